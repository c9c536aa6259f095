package accounts

// WaitTouches waits for the last-seen and last-used times being written
// in the background, so that tests can read them from the database.
func WaitTouches(s *Service) { s.touches.Wait() }
