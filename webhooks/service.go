// Package webhooks provides Custodian's WebhookService and its delivery:
// administrators register endpoints for customer events; storage queues
// each event in the same transaction as the change (the outbox, see
// custodian.WebhookEventOf); Run, in one place in serve, fans the queued
// events out into deliveries, one per subscribed endpoint, and sends them
// signed the Standard Webhooks way, retrying with exponential backoff and
// jitter for a day. Targets are checked against the SSRF Guard when they
// are registered and again on every connection.
package webhooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/crypto"
)

// Limits on what an endpoint is registered with.
const (
	MaxURLLen         = 2048
	MaxDescriptionLen = 200
)

// secretField is the name the signing secrets are sealed under.
const (
	secretField   = "webhook secret"
	previousField = "webhook previous secret"
)

// Options configure a Service.
type Options struct {
	// Guard decides which targets may be reached (NewGuard(nil) when
	// nil: no allow-list).
	Guard *Guard
	// Customers reads a customer for the endpoints allowed to receive
	// personal data; nil sends none to any endpoint.
	Customers custodian.CustomerService
	// Logger reports failed attempts (by endpoint and delivery id, never
	// with the target or the payload); nil discards.
	Logger *slog.Logger
	// Now returns the current time (time.Now when nil).
	Now func() time.Time
	// RotationGrace is how long a replaced secret keeps signing
	// deliveries (24 hours when 0).
	RotationGrace time.Duration
	// Retry is the redelivery schedule.
	Retry Retry
	// PollInterval is how often Run looks for work (1 s when 0).
	PollInterval time.Duration
	// Timeout bounds one attempt (15 s when 0).
	Timeout time.Duration
	// Concurrency bounds the attempts made at once (4 when 0).
	Concurrency int
	// KeepDeliveries is how long finished deliveries stay listed (30
	// days when 0); Run removes older ones.
	KeepDeliveries time.Duration
	// Client sends deliveries; nil means a client that dials through
	// the Guard, uses no proxy and follows no redirect. Tests may give
	// one, which then bypasses the Guard's dial-time check.
	Client *http.Client
}

// Retry is the schedule of redeliveries: the wait after the n-th failed
// attempt is uniformly in [d/2, d] with d = min(Base * 2^(n-1), Max), and a
// delivery is given up (failed) once the next attempt would come more than
// MaxAge after the event was queued.
type Retry struct {
	Base   time.Duration // 30 s when 0
	Max    time.Duration // 4 h when 0
	MaxAge time.Duration // 24 h when 0
}

func (r Retry) withDefaults() Retry {
	if r.Base <= 0 {
		r.Base = 30 * time.Second
	}
	if r.Max <= 0 {
		r.Max = 4 * time.Hour
	}
	if r.MaxAge <= 0 {
		r.MaxAge = 24 * time.Hour
	}
	return r
}

// Service implements custodian.WebhookService and delivers the queued
// events (Run).
type Service struct {
	repo   custodian.WebhookRepository
	sealer *crypto.Sealer
	o      Options
	client *http.Client
	// purged is when RunOnce last removed old deliveries (Unix
	// nanoseconds), so that it does so at most hourly.
	purged atomic.Int64
}

var _ custodian.WebhookService = (*Service)(nil)

// New returns a Service over repo; sealer protects the signing secrets.
func New(repo custodian.WebhookRepository, sealer *crypto.Sealer, o Options) *Service {
	if o.Guard == nil {
		o.Guard, _ = NewGuard(nil) // no entries: no error
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.RotationGrace <= 0 {
		o.RotationGrace = 24 * time.Hour
	}
	if o.PollInterval <= 0 {
		o.PollInterval = time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 15 * time.Second
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if o.KeepDeliveries <= 0 {
		o.KeepDeliveries = 30 * 24 * time.Hour
	}
	o.Retry = o.Retry.withDefaults()
	s := &Service{repo: repo, sealer: sealer, o: o, client: o.Client}
	if s.client == nil {
		s.client = &http.Client{
			Transport: &http.Transport{
				DialContext:           o.Guard.DialContext,
				Proxy:                 nil,
				TLSHandshakeTimeout:   10 * time.Second,
				ResponseHeaderTimeout: o.Timeout,
				MaxIdleConnsPerHost:   2,
				IdleConnTimeout:       time.Minute,
			},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	return s
}

func (s *Service) timestamp() time.Time { return s.o.Now().UTC().Truncate(time.Microsecond) }

// invalid is the error of input with field errors.
func invalid(errs []custodian.FieldError) error {
	return &custodian.Error{Code: custodian.EINVALID, Message: "The webhook has invalid fields.", Fields: errs}
}

// checkURL validates a target: absolute, https unless allow-listed, no
// credentials or fragment, and not a blocked address as it resolves now.
func (s *Service) checkURL(ctx context.Context, raw string) (string, []custodian.FieldError) {
	bad := func(msg string) (string, []custodian.FieldError) {
		return "", []custodian.FieldError{{Field: "url", Message: msg}}
	}
	raw = strings.TrimSpace(raw)
	switch {
	case raw == "":
		return bad("URL is required.")
	case len(raw) > MaxURLLen:
		return bad(fmt.Sprintf("URL must be at most %d characters.", MaxURLLen))
	case !utf8.ValidString(raw) || strings.ContainsFunc(raw, func(r rune) bool { return r <= 0x20 || r == 0x7f }):
		return bad("URL must not contain spaces or control characters.")
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Hostname() == "" {
		return bad("URL must be an absolute https URL, such as https://hooks.example.com/custodian.")
	}
	if u.User != nil {
		return bad("URL must not contain a user name or password; authenticate with the signature instead.")
	}
	if u.Fragment != "" {
		return bad("URL must not contain a fragment.")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !s.o.Guard.AllowListed(u) {
			return bad("URL must use https (plain http only for hosts the operator allow-lists).")
		}
	default:
		return bad("URL must be an absolute https URL.")
	}
	if err := s.o.Guard.CheckTarget(ctx, u); err != nil {
		return bad("URL points to a loopback, private, link-local or metadata address, which webhooks may not reach unless the operator allow-lists it (--webhook-allow).")
	}
	return u.String(), nil
}

func checkDescription(d string) (string, []custodian.FieldError) {
	d = strings.TrimSpace(d)
	switch {
	case !utf8.ValidString(d) || strings.ContainsFunc(d, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return "", []custodian.FieldError{{Field: "description", Message: "Description must be one line of text."}}
	case utf8.RuneCountInString(d) > MaxDescriptionLen:
		return "", []custodian.FieldError{{Field: "description", Message: fmt.Sprintf("Description must be at most %d characters.", MaxDescriptionLen)}}
	case strings.ContainsAny(d, "<>"):
		return "", []custodian.FieldError{{Field: "description", Message: "Description must not contain < or >."}}
	}
	return d, nil
}

func checkEvents(events []string) ([]string, []custodian.FieldError) {
	if len(events) == 0 {
		return nil, []custodian.FieldError{{Field: "events", Message: "Choose at least one event: " + strings.Join(custodian.WebhookEventTypes(), ", ") + "."}}
	}
	var out []string
	for _, e := range events {
		if !custodian.ValidWebhookEvent(e) {
			return nil, []custodian.FieldError{{Field: "events", Message: fmt.Sprintf("Unknown event %q; events are %s.", e, strings.Join(custodian.WebhookEventTypes(), ", "))}}
		}
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	slices.Sort(out)
	return out, nil
}

// CreateWebhook registers an endpoint and returns its secret, once.
func (s *Service) CreateWebhook(ctx context.Context, in custodian.WebhookInput) (*custodian.Webhook, string, error) {
	var errs []custodian.FieldError
	u, fe := s.checkURL(ctx, in.URL)
	errs = append(errs, fe...)
	desc, fe := checkDescription(in.Description)
	errs = append(errs, fe...)
	events, fe := checkEvents(in.Events)
	errs = append(errs, fe...)
	if len(errs) > 0 {
		return nil, "", invalid(errs)
	}
	now, actor := s.timestamp(), custodian.ActorFrom(ctx)
	r := &custodian.WebhookRecord{Webhook: custodian.Webhook{
		ID: custodian.NewWebhookID(), URL: u, Description: desc, Events: events, PersonalData: in.PersonalData,
		Active: in.Active == nil || *in.Active, CreatedAt: now, UpdatedAt: now, CreatedBy: actor, Version: 1,
	}}
	dk, keyID, wrapped, err := s.sealer.NewDataKey(r.ID)
	if err != nil {
		return nil, "", err
	}
	key := newSecret()
	r.KeyID, r.DataKey, r.Secret = keyID, wrapped, dk.Seal(secretField, key)
	data, _ := json.Marshal(map[string]any{"events": events, "personal_data": r.PersonalData, "active": r.Active}) // always marshals
	err = s.repo.Audited(ctx, func(ctx context.Context) ([]custodian.AuditEntry, error) {
		return []custodian.AuditEntry{{Action: custodian.ActionWebhookCreate, Subject: r.ID, Fields: []string{"url", "description", "events", "personal_data", "active"}, Data: data, Time: now}},
			s.repo.InsertWebhook(ctx, r)
	})
	if err != nil {
		return nil, "", err
	}
	w := r.Webhook
	return &w, FormatSecret(key), nil
}

var errNoWebhook = custodian.Errorf(custodian.ENOTFOUND, "Webhook not found.")

func validID(id string) bool {
	return strings.HasPrefix(id, custodian.WebhookIDPrefix) && len(id) < 64
}

// Webhooks lists the endpoints, oldest first.
func (s *Service) Webhooks(ctx context.Context) ([]*custodian.Webhook, error) {
	recs, err := s.repo.WebhookRecords(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*custodian.Webhook, len(recs))
	for i, r := range recs {
		w := r.Webhook
		out[i] = &w
	}
	return out, nil
}

// Webhook returns one endpoint.
func (s *Service) Webhook(ctx context.Context, id string) (*custodian.Webhook, error) {
	if !validID(id) {
		return nil, errNoWebhook
	}
	r, err := s.repo.WebhookRecord(ctx, id)
	if err != nil {
		return nil, err
	}
	w := r.Webhook
	return &w, nil
}

// UpdateWebhook applies p. Allowing personal data, or taking it away, is
// audited like every change, with the field's name.
func (s *Service) UpdateWebhook(ctx context.Context, id string, ifVersion int64, p custodian.WebhookPatch) (*custodian.Webhook, error) {
	if !validID(id) {
		return nil, errNoWebhook
	}
	var errs []custodian.FieldError
	var fe []custodian.FieldError
	var u, desc string
	var events []string
	if p.URL != nil {
		u, fe = s.checkURL(ctx, *p.URL)
		errs = append(errs, fe...)
	}
	if p.Description != nil {
		desc, fe = checkDescription(*p.Description)
		errs = append(errs, fe...)
	}
	if p.Events != nil {
		events, fe = checkEvents(*p.Events)
		errs = append(errs, fe...)
	}
	if len(errs) > 0 {
		return nil, invalid(errs)
	}
	var out custodian.Webhook
	err := s.repo.Audited(ctx, func(ctx context.Context) ([]custodian.AuditEntry, error) {
		var changed []string
		err := s.repo.UpdateWebhook(ctx, id, func(cur *custodian.WebhookRecord) (*custodian.WebhookRecord, error) {
			if ifVersion != 0 && cur.Version != ifVersion {
				return nil, custodian.Errorf(custodian.EPRECONDITION, "The webhook was changed by someone else; reload it and try again.")
			}
			next := *cur
			if p.URL != nil && u != cur.URL {
				next.URL, changed = u, append(changed, "url")
			}
			if p.Description != nil && desc != cur.Description {
				next.Description, changed = desc, append(changed, "description")
			}
			if p.Events != nil && !slices.Equal(events, cur.Events) {
				next.Events, changed = events, append(changed, "events")
			}
			if p.PersonalData != nil && *p.PersonalData != cur.PersonalData {
				next.PersonalData, changed = *p.PersonalData, append(changed, "personal_data")
			}
			if p.Active != nil && *p.Active != cur.Active {
				next.Active, changed = *p.Active, append(changed, "active")
			}
			if len(changed) > 0 {
				next.UpdatedAt, next.Version = s.timestamp(), cur.Version+1
			}
			out = next.Webhook
			return &next, nil
		})
		if err != nil || len(changed) == 0 {
			return nil, err
		}
		data, _ := json.Marshal(map[string]any{"personal_data": out.PersonalData, "active": out.Active, "events": out.Events}) // always marshals
		return []custodian.AuditEntry{{Action: custodian.ActionWebhookUpdate, Subject: id, Fields: changed, Data: data}}, nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteWebhook removes the endpoint and its deliveries.
func (s *Service) DeleteWebhook(ctx context.Context, id string) error {
	if !validID(id) {
		return errNoWebhook
	}
	return s.repo.Audited(ctx, func(ctx context.Context) ([]custodian.AuditEntry, error) {
		return []custodian.AuditEntry{{Action: custodian.ActionWebhookDelete, Subject: id}}, s.repo.DeleteWebhook(ctx, id)
	})
}

// RotateWebhookSecret replaces the secret; the old one signs too until
// the grace period ends.
func (s *Service) RotateWebhookSecret(ctx context.Context, id string) (*custodian.Webhook, string, error) {
	if !validID(id) {
		return nil, "", errNoWebhook
	}
	key := newSecret()
	var out custodian.Webhook
	err := s.repo.Audited(ctx, func(ctx context.Context) ([]custodian.AuditEntry, error) {
		err := s.repo.UpdateWebhook(ctx, id, func(cur *custodian.WebhookRecord) (*custodian.WebhookRecord, error) {
			dk, err := s.sealer.OpenDataKey(cur.ID, cur.KeyID, cur.DataKey)
			if err != nil {
				return nil, err
			}
			old, err := dk.Open(secretField, cur.Secret)
			if err != nil {
				return nil, fmt.Errorf("webhook %s: secret: %w", cur.ID, err)
			}
			now := s.timestamp()
			next := *cur
			next.Secret = dk.Seal(secretField, key)
			next.PreviousSecret = dk.Seal(previousField, old)
			next.PreviousExpiresAt = now.Add(s.o.RotationGrace)
			until := next.PreviousExpiresAt
			next.PreviousSecretExpiresAt, next.SecretRotatedAt = &until, &now
			next.UpdatedAt, next.Version = now, cur.Version+1
			out = next.Webhook
			return &next, nil
		})
		return []custodian.AuditEntry{{Action: custodian.ActionWebhookRotate, Subject: id, Fields: []string{"secret"}}}, err
	})
	if err != nil {
		return nil, "", err
	}
	return &out, FormatSecret(key), nil
}

// WebhookDeliveries lists an endpoint's deliveries, newest first.
func (s *Service) WebhookDeliveries(ctx context.Context, id string, limit int) ([]custodian.WebhookDelivery, error) {
	if !validID(id) {
		return nil, errNoWebhook
	}
	return s.repo.WebhookDeliveries(ctx, id, limit)
}

// signingKeys returns the keys that sign a delivery to r at now: the
// current secret, and the previous one during its grace period.
func (s *Service) signingKeys(r *custodian.WebhookRecord, now time.Time) ([][]byte, error) {
	dk, err := s.sealer.OpenDataKey(r.ID, r.KeyID, r.DataKey)
	if err != nil {
		return nil, err
	}
	cur, err := dk.Open(secretField, r.Secret)
	if err != nil {
		return nil, fmt.Errorf("webhook %s: secret: %w", r.ID, err)
	}
	keys := [][]byte{cur}
	if len(r.PreviousSecret) > 0 && now.Before(r.PreviousExpiresAt) {
		prev, err := dk.Open(previousField, r.PreviousSecret)
		if err != nil {
			return nil, fmt.Errorf("webhook %s: previous secret: %w", r.ID, err)
		}
		keys = append(keys, prev)
	}
	return keys, nil
}

// errInactive ends the deliveries of an endpoint switched off.
var errInactive = errors.New("the endpoint is inactive")
