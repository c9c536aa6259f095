package custodian

import (
	"context"
	"time"
)

// Audited actions. Each names what was done; the subject says to what.
const (
	ActionCustomerCreate = "customer.create"
	ActionCustomerUpdate = "customer.update"
	ActionCustomerDelete = "customer.delete"
	ActionCustomerRead   = "customer.read"
	ActionCustomerExport = "customer.export"
	ActionCustomerErase  = "customer.erase"
	ActionConsentChange  = "consent.change"
	ActionLegalHold      = "customer.legal_hold"

	ActionUserCreate     = "user.create"
	ActionUserUpdate     = "user.update"
	ActionUserRole       = "user.role"
	ActionUserDeactivate = "user.deactivate"
	ActionUserActivate   = "user.activate"
	ActionUserUnlock     = "user.unlock"
	ActionUserInvite     = "user.invite"
	ActionUserResetLink  = "user.reset_link"
	ActionPasswordChange = "user.password"
	ActionPasswordReset  = "user.password_reset"
	ActionEmailChange    = "user.email"
	ActionTOTPEnable     = "user.2fa_enable"
	ActionTOTPDisable    = "user.2fa_disable"
	ActionTOTPReset      = "user.2fa_reset"
	ActionSignIn         = "auth.signin"
	ActionSignInFailed   = "auth.signin_failed"
	ActionReauthFailed   = "auth.reauth_failed" // a wrong current password (or code) for a change to one's own credentials
	ActionSignOut        = "auth.signout"
	ActionTokenIssue     = "token.issue"
	ActionTokenRevoke    = "token.revoke"
	ActionSettingChange  = "setting.change"
	ActionKeyRotate      = "keys.rotate"

	ActionSecurityAlert = "security.alert"
	ActionAlertResolve  = "security.alert_resolve"
)

// Actors recorded for changes that no signed-in user makes.
const (
	// ActorCLI is the actor of changes made with the custodian command
	// on the server's machine.
	ActorCLI = "system:cli"
	// ActorMonitor is the actor of security alerts the server raises.
	ActorMonitor = "system:monitor"
	// ActorSignInPolicy is the actor of what the sign-in policy does on
	// its own, such as the link it mails the owner of a locked account.
	ActorSignInPolicy = "system:signin"
)

// AuditEntry is an event as the code that causes it describes it: what was
// done, to what, and which fields changed. Who, from where and when are
// added when it is recorded (see Origin and ActorFrom). Data carries
// optional detail; it never holds a personal value in plaintext.
type AuditEntry struct {
	Action  string
	Subject string
	Fields  []string
	Data    []byte
	// Time is when it happened; zero means when it is recorded.
	Time time.Time
}

// AuditEvent is one recorded event of the tamper-evident audit trail.
// Seq numbers start at 1 and increase by one without gaps; Hash seals the
// event together with the Hash of the event before it (PrevHash).
type AuditEvent struct {
	Seq        int64     `json:"seq"`
	Time       time.Time `json:"time"`
	Actor      string    `json:"actor"`
	Action     string    `json:"action"`
	Subject    string    `json:"subject,omitempty"`
	ClientAddr string    `json:"client_addr,omitempty"`
	RequestID  string    `json:"request_id,omitempty"`
	Fields     []string  `json:"fields,omitempty"`
	Data       []byte    `json:"data,omitempty"`
	PrevHash   []byte    `json:"prev_hash"`
	Hash       []byte    `json:"hash"`
}

// AuditQuery selects audit events, newest first. Empty fields do not
// filter. Action matches exactly, or as a prefix when it ends in "." (as
// in "customer."). BeforeSeq continues a listing below that sequence
// number; Limit bounds the count (0 means no bound).
type AuditQuery struct {
	Actor     string
	Action    string
	Subject   string
	Since     time.Time
	Until     time.Time
	BeforeSeq int64
	Limit     int
}

// AuditRepository records and reads the audit trail. The trail is
// append-only: nothing here changes or removes an event.
type AuditRepository interface {
	// Audited runs fn inside one write transaction and appends the events
	// it returns to the trail in the same transaction: the change and its
	// record are stored together or not at all. Repository calls made
	// with the context fn is given join the transaction. An error from fn
	// aborts everything and is returned.
	Audited(ctx context.Context, fn func(ctx context.Context) ([]AuditEntry, error)) error
	// AppendAudit records events that go with no other change, such as a
	// failed sign-in or a read.
	AppendAudit(ctx context.Context, entries ...AuditEntry) error
	// AuditEvents returns the events q selects, newest first.
	AuditEvents(ctx context.Context, q AuditQuery) ([]AuditEvent, error)
}

// AuditTrail reads the audit trail, for those allowed to.
type AuditTrail interface {
	// AuditEvents returns the events q selects, newest first.
	AuditEvents(ctx context.Context, q AuditQuery) ([]AuditEvent, error)
}

// Origin is where a request came from, recorded with the audit events it
// causes. Requests carry it in their context (WithOrigin, OriginFrom).
type Origin struct {
	ClientAddr string
	RequestID  string
}
