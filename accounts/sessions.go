package accounts

import (
	"bytes"
	"context"

	"github.com/custodian-crm/custodian"
)

// ListSessions lists p's live sessions (past neither limit), newest
// first, marking the one p uses.
func (s *Service) ListSessions(ctx context.Context, p *custodian.Principal) ([]custodian.SessionInfo, error) {
	all, err := s.repo.ListSessions(ctx, p.User.ID)
	if err != nil {
		return nil, err
	}
	now := s.now()
	var out []custodian.SessionInfo
	for _, se := range all {
		if !s.sessionLive(se.ExpiresAt, se.LastSeenAt, now) {
			continue
		}
		out = append(out, custodian.SessionInfo{ID: custodian.InvitationID(se.TokenHash), CreatedAt: se.CreatedAt, LastSeenAt: se.LastSeenAt,
			ClientAddr: se.ClientAddr, UserAgent: truncate(se.UserAgent, 200), Current: bytes.Equal(se.TokenHash, p.SessionHash)})
	}
	return out, nil
}

// EndSession signs out one of p's sessions by its id.
func (s *Service) EndSession(ctx context.Context, p *custodian.Principal, id string) error {
	all, err := s.repo.ListSessions(ctx, p.User.ID)
	if err != nil {
		return err
	}
	for _, se := range all {
		if custodian.InvitationID(se.TokenHash) != id {
			continue
		}
		defer s.invalidate(ctx, custodian.AuthInvalidation{UserID: p.User.ID})
		return s.repo.Audited(ctx, func(ctx context.Context) ([]custodian.AuditEntry, error) {
			return []custodian.AuditEntry{event(custodian.ActionSignOut, p.User.ID, map[string]any{"session": id, "by_owner": true})}, s.repo.DeleteSession(ctx, se.TokenHash)
		})
	}
	return custodian.Errorf(custodian.ENOTFOUND, "You have no session with this id.")
}

// EndOtherSessions signs out every session of p but the one p uses.
func (s *Service) EndOtherSessions(ctx context.Context, p *custodian.Principal) error {
	defer s.invalidate(ctx, custodian.AuthInvalidation{UserID: p.User.ID})
	return s.repo.Audited(ctx, func(ctx context.Context) ([]custodian.AuditEntry, error) {
		return []custodian.AuditEntry{event(custodian.ActionSignOut, p.User.ID, map[string]any{"others": true})}, s.repo.DeleteUserSessions(ctx, p.User.ID, p.SessionHash)
	})
}
