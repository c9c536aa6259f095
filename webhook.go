package custodian

import (
	"context"
	"encoding/json"
	"slices"
	"time"
)

// Webhook event types: what happened to a customer, as an endpoint
// subscribes to it and as a delivery's "type" names it.
const (
	EventCustomerCreated = "customer.created"
	EventCustomerUpdated = "customer.updated"
	EventCustomerDeleted = "customer.deleted"
	EventCustomerErased  = "customer.erased"
	EventConsentChanged  = "customer.consent_changed"
)

// webhookActions maps the audited actions that are webhook events to
// their event type. It is never written.
var webhookActions = map[string]string{
	ActionCustomerCreate: EventCustomerCreated,
	ActionCustomerUpdate: EventCustomerUpdated,
	ActionCustomerDelete: EventCustomerDeleted,
	ActionCustomerErase:  EventCustomerErased,
	ActionConsentChange:  EventConsentChanged,
}

// WebhookEventTypes lists every event type an endpoint may subscribe to.
func WebhookEventTypes() []string {
	return []string{EventCustomerCreated, EventCustomerUpdated, EventCustomerDeleted, EventCustomerErased, EventConsentChanged}
}

// ValidWebhookEvent reports whether t is a known event type.
func ValidWebhookEvent(t string) bool { return slices.Contains(WebhookEventTypes(), t) }

// WebhookEventOf returns the webhook event an audit entry stands for, and
// whether it is one: a customer created, updated (with changes), deleted,
// erased, or a consent change (whose field is "consents.<purpose>").
// Storage calls it for every entry it appends, and queues the event in the
// same transaction as the change the entry records (the outbox), so that
// every path that changes a customer, bulk actions and the shell commands
// included, sends its events, and a restart loses none.
func WebhookEventOf(e AuditEntry) (WebhookEvent, bool) {
	t, ok := webhookActions[e.Action]
	if !ok || e.Subject == "" || (e.Action == ActionCustomerUpdate && len(e.Fields) == 0) {
		return WebhookEvent{}, false
	}
	fields := slices.Clone(e.Fields)
	if e.Action == ActionConsentChange {
		var d AccessData
		if json.Unmarshal(e.Data, &d) == nil && d.Consent != "" {
			fields = []string{"consents." + d.Consent}
		}
	}
	if fields == nil {
		fields = []string{}
	}
	return WebhookEvent{Type: t, CustomerID: e.Subject, Fields: fields, Time: e.Time}, true
}

// Audited actions on webhook endpoints.
const (
	ActionWebhookCreate = "webhook.create"
	ActionWebhookUpdate = "webhook.update"
	ActionWebhookDelete = "webhook.delete"
	ActionWebhookRotate = "webhook.rotate_secret"
)

// ActorWebhooks is the actor of the customer reads made to send personal
// data to an endpoint allowed to receive it.
const ActorWebhooks = "system:webhooks"

// WebhookIDPrefix starts every webhook endpoint id; delivery ids start
// with WebhookDeliveryIDPrefix.
const (
	WebhookIDPrefix         = "whk_"
	WebhookDeliveryIDPrefix = "msg_"
)

// NewWebhookID returns a new random webhook endpoint id.
func NewWebhookID() string { return WebhookIDPrefix + randomID() }

// NewWebhookDeliveryID returns a new random delivery id, sent as the
// webhook-id header: the same for every attempt of one delivery, so that
// a receiver can drop duplicates.
func NewWebhookDeliveryID() string { return WebhookDeliveryIDPrefix + randomID() }

// Webhook is an endpoint registered to receive customer events.
type Webhook struct {
	ID          string `json:"id"`
	URL         string `json:"url"`
	Description string `json:"description"`
	// Events are the event types the endpoint receives.
	Events []string `json:"events"`
	// PersonalData allows deliveries to carry the customer's personal
	// fields. Without it a delivery names the customer and the changed
	// fields, never their values.
	PersonalData bool      `json:"personal_data"`
	Active       bool      `json:"active"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
	CreatedBy    string    `json:"created_by"`
	Version      int64     `json:"version"`
	// SecretRotatedAt is when the signing secret was last replaced; zero
	// when never.
	SecretRotatedAt *time.Time `json:"secret_rotated_at"`
	// PreviousSecretExpiresAt is set while deliveries are also signed
	// with the secret in use before the last rotation.
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at"`
}

// WebhookRecord is an endpoint as stored: its signing secrets are sealed
// under a data key of its own, wrapped by a master key (KeyID).
type WebhookRecord struct {
	Webhook
	KeyID   string
	DataKey []byte
	// Secret is the sealed signing secret; PreviousSecret the sealed one
	// it replaced, valid until PreviousExpiresAt.
	Secret            []byte
	PreviousSecret    []byte
	PreviousExpiresAt time.Time
}

// WebhookInput is what an administrator gives to register an endpoint.
type WebhookInput struct {
	URL          string   `json:"url"`
	Description  string   `json:"description"`
	Events       []string `json:"events"`
	PersonalData bool     `json:"personal_data"`
	// Active defaults to true.
	Active *bool `json:"active"`
}

// WebhookPatch changes some settings of an endpoint; nil leaves one alone.
type WebhookPatch struct {
	URL          *string   `json:"url"`
	Description  *string   `json:"description"`
	Events       *[]string `json:"events"`
	PersonalData *bool     `json:"personal_data"`
	Active       *bool     `json:"active"`
}

// Delivery statuses.
const (
	DeliveryPending   = "pending"   // waiting for its first or next attempt
	DeliverySucceeded = "succeeded" // the endpoint answered 2xx
	DeliveryFailed    = "failed"    // given up: retried for a day without success
)

// WebhookEvent is a change queued for delivery, written in the same
// transaction as the change (the outbox).
type WebhookEvent struct {
	Seq        int64
	Type       string
	CustomerID string
	Fields     []string
	Time       time.Time
}

// WebhookDelivery is one event sent to one endpoint, with its attempts.
type WebhookDelivery struct {
	ID            string    `json:"id"`
	WebhookID     string    `json:"webhook_id"`
	EventType     string    `json:"event_type"`
	CustomerID    string    `json:"customer_id"`
	Fields        []string  `json:"fields"`
	OccurredAt    time.Time `json:"occurred_at"`
	CreatedAt     time.Time `json:"created_at"`
	Status        string    `json:"status"`
	Attempts      int       `json:"attempts"`
	NextAttemptAt time.Time `json:"next_attempt_at"`
	// LastAttemptAt is zero before the first attempt.
	LastAttemptAt time.Time `json:"last_attempt_at"`
	// LastStatusCode is the endpoint's last HTTP status (0 when it did
	// not answer); LastError says what went wrong, without secrets.
	LastStatusCode int    `json:"last_status_code"`
	LastError      string `json:"last_error"`
}

// WebhookService registers endpoints and lists their deliveries. Every
// change is audited; a signing secret is returned only by the calls that
// make it, never stored or shown in plaintext again.
type WebhookService interface {
	// CreateWebhook validates in and registers an endpoint, returning it
	// with its new signing secret ("whsec_" and base64).
	CreateWebhook(ctx context.Context, in WebhookInput) (*Webhook, string, error)
	// Webhooks lists the endpoints, oldest first.
	Webhooks(ctx context.Context) ([]*Webhook, error)
	// Webhook returns one endpoint, or ENOTFOUND.
	Webhook(ctx context.Context, id string) (*Webhook, error)
	// UpdateWebhook applies p when the endpoint's version equals
	// ifVersion (any when 0); otherwise EPRECONDITION.
	UpdateWebhook(ctx context.Context, id string, ifVersion int64, p WebhookPatch) (*Webhook, error)
	// DeleteWebhook removes the endpoint and its deliveries.
	DeleteWebhook(ctx context.Context, id string) error
	// RotateWebhookSecret replaces the signing secret and returns the new
	// one. The old one stays valid for a grace period, during which
	// deliveries carry both signatures.
	RotateWebhookSecret(ctx context.Context, id string) (*Webhook, string, error)
	// WebhookDeliveries lists the endpoint's deliveries, newest first,
	// at most limit of them (all when 0).
	WebhookDeliveries(ctx context.Context, id string, limit int) ([]WebhookDelivery, error)
}

// WebhookRepository stores endpoints, the outbox and deliveries.
type WebhookRepository interface {
	AuditRepository
	InsertWebhook(ctx context.Context, r *WebhookRecord) error
	// WebhookRecord returns the endpoint, or ENOTFOUND.
	WebhookRecord(ctx context.Context, id string) (*WebhookRecord, error)
	// WebhookRecords returns every endpoint, oldest first.
	WebhookRecords(ctx context.Context) ([]*WebhookRecord, error)
	// UpdateWebhook reads the endpoint inside a write transaction, passes
	// it to fn and stores what fn returns; ENOTFOUND when there is none.
	UpdateWebhook(ctx context.Context, id string, fn func(cur *WebhookRecord) (*WebhookRecord, error)) error
	// DeleteWebhook removes the endpoint and its deliveries; ENOTFOUND
	// when there is none.
	DeleteWebhook(ctx context.Context, id string) error

	// FanOutWebhookEvents takes up to limit queued events, oldest first,
	// and in one transaction removes each from the outbox and stores the
	// deliveries route returns for it. An event another process took
	// first is skipped. It returns how many events it took.
	FanOutWebhookEvents(ctx context.Context, limit int, route func(WebhookEvent) []WebhookDelivery) (int, error)
	// ClaimWebhookDeliveries takes up to limit pending deliveries due at
	// now: each is leased until leaseUntil (its next attempt moves there,
	// so a process that dies mid-attempt leaves it to be retried) and its
	// attempt count raised, with a compare-and-set so that two processes
	// never claim the same delivery.
	ClaimWebhookDeliveries(ctx context.Context, now, leaseUntil time.Time, limit int) ([]WebhookDelivery, error)
	// FinishWebhookAttempt stores the outcome of an attempt: status,
	// next attempt, last attempt, status code and error.
	FinishWebhookAttempt(ctx context.Context, d WebhookDelivery) error
	// WebhookDeliveries lists an endpoint's deliveries, newest first (all
	// when limit is 0).
	WebhookDeliveries(ctx context.Context, webhookID string, limit int) ([]WebhookDelivery, error)
	// PurgeWebhookDeliveries removes the finished (succeeded or failed)
	// deliveries created before before, and returns how many.
	PurgeWebhookDeliveries(ctx context.Context, before time.Time) (int64, error)
}
