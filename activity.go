package custodian

import (
	"context"
	"strings"
	"time"
)

// Kinds of activity a user logs on a customer.
const (
	ActivityNote    = "note"
	ActivityCall    = "call"
	ActivityMeeting = "meeting"
	ActivityEmail   = "email"
)

// ActivityTypes are the kinds of activity, in the order forms offer them.
var ActivityTypes = []string{ActivityNote, ActivityCall, ActivityMeeting, ActivityEmail}

// MaxActivityTextLen bounds the text of a logged activity, in characters.
const MaxActivityTextLen = 5000

// ActivityInput is an activity as a user logs it: what kind, when it
// happened (Date; the zero time means now) and what was said or done.
type ActivityInput struct {
	Type string    `json:"type"`
	Date time.Time `json:"date"`
	Text string    `json:"text"`
}

// Check validates in and returns it with its text trimmed and its date in
// UTC (now when it is zero). A date more than a day in the future is
// refused: activities are logged after they happen.
func (in ActivityInput) Check(now time.Time) (ActivityInput, error) {
	var errs fieldErrors
	found := false
	for _, t := range ActivityTypes {
		found = found || in.Type == t
	}
	if !found {
		errs.add("type", "Must be one of %s.", strings.Join(ActivityTypes, ", "))
	}
	in.Text = strings.TrimSpace(in.Text)
	switch {
	case in.Text == "":
		errs.add("text", "Say what happened.")
	case !activityText(in.Text):
		errs.add("text", "Must be text of at most %d characters.", MaxActivityTextLen)
	}
	if in.Date.IsZero() {
		in.Date = now
	} else if in.Date.After(now.Add(24 * time.Hour)) {
		errs.add("date", "Must not be in the future.")
	}
	in.Date = in.Date.UTC().Truncate(time.Microsecond)
	if len(errs) > 0 {
		return in, &Error{Code: EINVALID, Message: "The activity has invalid fields.", Fields: errs}
	}
	return in, nil
}

// activityText reports whether s is printable text of at most
// MaxActivityTextLen characters, line breaks and tabs allowed.
func activityText(s string) bool {
	return PrintableText(strings.NewReplacer("\r\n", " ", "\n", " ", "\t", " ").Replace(s), MaxActivityTextLen)
}

// Activity is a note, call, meeting or email a user logged on a customer.
// Text is personal data, stored sealed with the customer's data key.
type Activity struct {
	ID         int64     `json:"id"`
	CustomerID string    `json:"customer_id"`
	Type       string    `json:"type"`
	Date       time.Time `json:"date"`
	Text       string    `json:"text"`
	Author     string    `json:"author"`
	CreatedAt  time.Time `json:"created_at"`
}

// ActivityRecord is an activity at rest: its text sealed with the
// customer's data key.
type ActivityRecord struct {
	Seq        int64
	CustomerID string
	Type       string
	Date       time.Time
	Author     string
	CreatedAt  time.Time
	TextCT     []byte
}

// ActivityRepository keeps the activities logged on customers. They go
// with their customer: deleting or erasing it deletes them in the same
// transaction.
type ActivityRepository interface {
	// AddActivity locks the customer's record, passes it to fn and stores
	// the activity fn returns, returning its sequence number; ENOTFOUND
	// when there is no such customer. It joins the transaction of an
	// enclosing Audited call.
	AddActivity(ctx context.Context, customerID string, fn func(cur *CustomerRecord) (*ActivityRecord, error)) (int64, error)
	// ActivityRecords returns the customer's activities, newest first (by
	// date, then by sequence number).
	ActivityRecords(ctx context.Context, customerID string) ([]ActivityRecord, error)
}

// Kinds of timeline entries besides the activity types.
const (
	TimelineChange  = "change"  // the customer was created or changed
	TimelineConsent = "consent" // a consent was given or withdrawn
)

// TimelineEntry is one line of a customer's story: a logged activity
// (Kind is its type, Activity set), or a change or consent event from the
// audit trail, told by its action and the names of the fields it changed,
// never their values.
type TimelineEntry struct {
	Kind     string    `json:"kind"`
	Time     time.Time `json:"time"`
	Actor    string    `json:"actor"`
	Activity *Activity `json:"activity,omitempty"`
	Action   string    `json:"action,omitempty"`
	Fields   []string  `json:"fields,omitempty"`
	// Consent and State tell a consent event: the purpose and whether it
	// was given or withdrawn.
	Consent string `json:"consent,omitempty"`
	State   string `json:"state,omitempty"`
}

// TimelinePageSize is how many entries a page of a timeline holds.
const TimelinePageSize = 20

// TimelinePage is one page of a customer's timeline, newest first. Page
// counts from 1; More says whether an older page follows.
type TimelinePage struct {
	Entries []TimelineEntry `json:"entries"`
	Page    int             `json:"page"`
	More    bool            `json:"more"`
}

// ActivityService logs activities on customers and tells their story.
type ActivityService interface {
	// LogActivity validates in and logs it on the customer, authored by
	// the context's actor, with its audit event.
	LogActivity(ctx context.Context, customerID string, in ActivityInput) (*Activity, error)
	// Activities returns the customer's logged activities, newest first.
	Activities(ctx context.Context, customerID string) ([]Activity, error)
	// Timeline returns page (from 1) of the customer's timeline: logged
	// activities merged with its changes and consent events, newest
	// first, TimelinePageSize to a page.
	Timeline(ctx context.Context, customerID string, page int) (*TimelinePage, error)
}
