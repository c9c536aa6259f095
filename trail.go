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
	ActionActivityLog    = "customer.activity"
	ActionTaskAdd        = "customer.task"
	ActionTaskDone       = "customer.task_done"
	ActionTaskUpdate     = "customer.task_update"
	ActionTaskDelete     = "customer.task_delete"

	ActionUserCreate     = "user.create"
	ActionUserUpdate     = "user.update"
	ActionUserRole       = "user.role"
	ActionUserDeactivate = "user.deactivate"
	ActionUserActivate   = "user.activate"
	ActionUserUnlock     = "user.unlock"
	ActionUserInvite     = "user.invite"
	ActionInviteRevoke   = "user.invite_revoke"
	ActionUserResetLink  = "user.reset_link"
	ActionPasswordChange = "user.password"
	ActionPasswordReset  = "user.password_reset"
	ActionPasswordForgot = "user.password_forgot" // a reset link asked for on the forgotten-password page
	ActionEmailChange    = "user.email"
	ActionEmailRequest   = "user.email_request" // a link to confirm a new sign-in address was asked for
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
	ActionBackupCreated  = "backup.created"
	ActionBackupRestored = "backup.restored"

	ActionSecurityAlert = "security.alert"
	ActionAlertResolve  = "security.alert_resolve"

	// ActionReadsSeal seals a batch of the read log into the trail: its
	// Data (ReadSeal) carries the batch's sequence range, count and
	// Merkle root.
	ActionReadsSeal = "audit.reads_seal"
	// ActionReadsPurge records that the read log's records up to a
	// sequence number were removed by the retention job (ReadPurge).
	ActionReadsPurge = "audit.reads_purge"
	// ActionAuditArchive records that the trail's events up to a
	// sequence number were moved into an archive file.
	ActionAuditArchive = "audit.archive"
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
	// ActorBackup is the actor of the backups serve takes on schedule.
	ActorBackup = "system:backup"
	// ActorReadLog is the actor of the events that seal the read log
	// into the trail.
	ActorReadLog = "system:readlog"
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
// in "customer."). SkipReads leaves out customer.read events (reads are
// kept in the read log; a trail may still hold some). BeforeSeq continues
// a listing below that sequence number; AfterSeq instead selects the
// events just above it, the Limit nearest (a previous page), still listed
// newest first. Limit bounds the count (0 means no bound).
type AuditQuery struct {
	Actor     string
	Action    string
	Subject   string
	Since     time.Time
	Until     time.Time
	SkipReads bool
	BeforeSeq int64
	AfterSeq  int64
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
	// Reads returns the read records q selects, newest first.
	Reads(ctx context.Context, q ReadQuery) ([]ReadRecord, error)
}

// ReadRecord is one recorded read of personal data, kept in the read log
// rather than in the trail itself: who read which customers' full records
// (a list page is one record naming every customer on it), when, why and
// from where. Seq numbers of the read log start at 1 and increase by one
// without gaps; batches of records are sealed into the trail by
// ActionReadsSeal events carrying their Merkle root, so verification
// covers every read.
type ReadRecord struct {
	Seq        int64
	Time       time.Time
	Actor      string
	Purpose    string
	ClientAddr string
	RequestID  string
	Customers  []string
}

// Event returns the record as the audit event of one customer's read, as
// access logs and exports list it: the read's time, actor, origin and
// purpose, with Seq 0 (a read's place is in the read log, not the trail).
func (r ReadRecord) Event(customer string) AuditEvent {
	return AuditEvent{Time: r.Time, Actor: r.Actor, Action: ActionCustomerRead, Subject: customer,
		ClientAddr: r.ClientAddr, RequestID: r.RequestID, Data: AccessData{Purpose: r.Purpose}.Encode()}
}

// ReadQuery selects read records, newest first. Customer selects the
// records naming that customer, Actor those of that reader, Since and
// Until those in [Since, Until); BeforeSeq continues a listing below that
// sequence number, AfterSeq instead selects the records just above it
// (the Limit nearest, still listed newest first); Limit bounds the count
// (0 means no bound). Empty fields do not filter.
type ReadQuery struct {
	Customer  string
	Actor     string
	Since     time.Time
	Until     time.Time
	BeforeSeq int64
	AfterSeq  int64
	Limit     int
}

// ReadRepository keeps the read log: the append-only record of every read
// of customers' personal data, apart from the trail so that recording a
// read does not write the customer database.
type ReadRepository interface {
	// RecordRead records that the caller (ActorFrom, OriginFrom and
	// PurposeFrom of ctx) read the full records of the given customers,
	// as one record. It returns before the record is durable; the
	// implementation states the window within which it becomes so.
	RecordRead(ctx context.Context, customerIDs ...string) error
	// Reads returns the read records q selects, newest first.
	Reads(ctx context.Context, q ReadQuery) ([]ReadRecord, error)
	// PurgeReads removes the read records older than before that are
	// sealed into the trail (the retention of reads), recording the
	// removal in the trail first, and returns how many it removed.
	PurgeReads(ctx context.Context, before time.Time) (int64, error)
}

// ReadSeal is the Data of an ActionReadsSeal event: the read log's records
// First to Last (Count of them) and the Merkle root over them
// (hashchain.MerkleRoot of their leaves).
type ReadSeal struct {
	First int64  `json:"first"`
	Last  int64  `json:"last"`
	Count int64  `json:"count"`
	Root  []byte `json:"root"`
}

// ReadPurge is the Data of an ActionReadsPurge event: the read log's
// records up to Through were removed, all of them older than Before.
type ReadPurge struct {
	Through int64     `json:"through"`
	Before  time.Time `json:"before"`
}

// MergeReads returns the trail's events about customer together with its
// reads from the read log, newest first by time (events before reads at
// the same instant), at most limit of them (0: all).
func MergeReads(events []AuditEvent, reads []ReadRecord, customer string, limit int) []AuditEvent {
	out := make([]AuditEvent, 0, len(events)+len(reads))
	i, j := 0, 0
	for i < len(events) || j < len(reads) {
		if limit > 0 && len(out) == limit {
			break
		}
		if j == len(reads) || (i < len(events) && !events[i].Time.Before(reads[j].Time)) {
			out = append(out, events[i])
			i++
		} else {
			out = append(out, reads[j].Event(customer))
			j++
		}
	}
	return out
}

// Origin is where a request came from, recorded with the audit events it
// causes. Requests carry it in their context (WithOrigin, OriginFrom).
type Origin struct {
	ClientAddr string
	RequestID  string
}

// AuditActions lists every action the trail records, grouped by their
// prefix: the known set that filters offer and accept.
func AuditActions() []string {
	return []string{
		ActionCustomerCreate, ActionCustomerUpdate, ActionCustomerDelete, ActionCustomerRead, ActionCustomerExport, ActionCustomerErase,
		ActionLegalHold, ActionActivityLog, ActionTaskAdd, ActionTaskDone, ActionTaskUpdate, ActionTaskDelete, ActionCustomerBulk,
		ActionCustomersImport, ActionCustomersExport,
		ActionConsentChange,
		ActionUserCreate, ActionUserUpdate, ActionUserRole, ActionUserDeactivate, ActionUserActivate, ActionUserUnlock, ActionUserInvite,
		ActionInviteRevoke, ActionUserResetLink, ActionPasswordChange, ActionPasswordReset, ActionPasswordForgot, ActionEmailRequest, ActionEmailChange,
		ActionTOTPEnable, ActionTOTPDisable, ActionTOTPReset,
		ActionPasskeyRegister, ActionPasskeyRename, ActionPasskeyRemove,
		ActionSignIn, ActionSignInFailed, ActionReauthFailed, ActionSignOut,
		ActionTokenIssue, ActionTokenRevoke,
		ActionSettingChange, ActionKeyRotate, ActionBackupCreated, ActionBackupRestored,
		ActionWebhookCreate, ActionWebhookUpdate, ActionWebhookDelete, ActionWebhookRotate,
		ActionSecurityAlert, ActionAlertResolve,
		ActionReadsSeal, ActionReadsPurge, ActionAuditArchive,
		ActionViewCreate, ActionViewUpdate, ActionViewDelete,
	}
}
