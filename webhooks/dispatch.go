package webhooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/custodian-crm/custodian"
)

// fanOutBatch bounds the events one fan-out transaction takes, and
// claimBatch the deliveries one round claims.
const (
	fanOutBatch = 200
	claimBatch  = 50
)

// Run delivers queued events until ctx ends: every PollInterval it fans
// the outbox out into deliveries and sends those that are due. serve runs
// it once. Several processes on one PostgreSQL database may each run it:
// an event is fanned out by the process whose DELETE removes it, and a
// delivery is sent by the process whose compare-and-set claims it.
func (s *Service) Run(ctx context.Context) error {
	t := time.NewTicker(s.o.PollInterval)
	defer t.Stop()
	for {
		if err := s.RunOnce(ctx); err != nil && ctx.Err() == nil {
			s.o.Logger.Error("webhook delivery round failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// purgeEvery is how often RunOnce removes old finished deliveries.
const purgeEvery = time.Hour

// RunOnce fans out every queued event and makes every attempt due now;
// at most hourly it also removes the finished deliveries older than
// KeepDeliveries.
func (s *Service) RunOnce(ctx context.Context) error {
	if now := s.o.Now(); now.Sub(time.Unix(0, s.purged.Load())) >= purgeEvery {
		if _, err := s.repo.PurgeWebhookDeliveries(ctx, now.Add(-s.o.KeepDeliveries)); err != nil {
			return err
		}
		s.purged.Store(now.UnixNano())
	}
	for {
		n, err := s.fanOut(ctx)
		if err != nil {
			return err
		}
		if n < fanOutBatch {
			break
		}
	}
	for {
		now := s.o.Now().UTC()
		claimed, err := s.repo.ClaimWebhookDeliveries(ctx, now, now.Add(s.lease()), claimBatch)
		if err != nil {
			return err
		}
		if len(claimed) == 0 {
			return nil
		}
		s.deliverAll(ctx, claimed)
		if len(claimed) < claimBatch || ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// lease is how long a claimed delivery is held: longer than an attempt
// can take, so that only a process that died leaves it to be retried.
func (s *Service) lease() time.Duration { return 2*s.o.Timeout + 30*time.Second }

// fanOut turns queued events into deliveries for the endpoints active now
// that subscribe to them.
func (s *Service) fanOut(ctx context.Context) (int, error) {
	hooks, err := s.repo.WebhookRecords(ctx)
	if err != nil {
		return 0, err
	}
	now := s.timestamp()
	return s.repo.FanOutWebhookEvents(ctx, fanOutBatch, func(ev custodian.WebhookEvent) []custodian.WebhookDelivery {
		var out []custodian.WebhookDelivery
		for _, h := range hooks {
			if !h.Active || !slices.Contains(h.Events, ev.Type) {
				continue
			}
			out = append(out, custodian.WebhookDelivery{
				ID: custodian.NewWebhookDeliveryID(), WebhookID: h.ID, EventType: ev.Type, CustomerID: ev.CustomerID, Fields: ev.Fields,
				OccurredAt: ev.Time, CreatedAt: now, Status: custodian.DeliveryPending, NextAttemptAt: now,
			})
		}
		return out
	})
}

// deliverAll attempts the claimed deliveries, Concurrency at a time.
func (s *Service) deliverAll(ctx context.Context, ds []custodian.WebhookDelivery) {
	hooks := map[string]*custodian.WebhookRecord{}
	var mu sync.Mutex
	hook := func(id string) (*custodian.WebhookRecord, error) {
		mu.Lock()
		defer mu.Unlock()
		if h, ok := hooks[id]; ok {
			return h, nil
		}
		h, err := s.repo.WebhookRecord(ctx, id)
		if err == nil {
			hooks[id] = h
		}
		return h, err
	}
	sem := make(chan struct{}, s.o.Concurrency)
	var wg sync.WaitGroup
	for _, d := range ds {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			s.attempt(ctx, d, hook)
		}()
	}
	wg.Wait()
}

// Payload is the JSON body of a delivery (Standard Webhooks' type,
// timestamp and data, with the delivery's id).
type Payload struct {
	ID        string      `json:"id"`
	Type      string      `json:"type"`
	Timestamp time.Time   `json:"timestamp"`
	Data      PayloadData `json:"data"`
}

// PayloadData says what happened to which customer. Customer, with the
// personal fields, is present only for endpoints allowed to receive
// personal data, and only while the customer exists.
type PayloadData struct {
	DeliveryID string              `json:"delivery_id"`
	CustomerID string              `json:"customer_id"`
	Fields     []string            `json:"fields"`
	OccurredAt time.Time           `json:"occurred_at"`
	Customer   *custodian.Customer `json:"customer,omitempty"`
}

// body builds the delivery's JSON. For an endpoint allowed personal data
// the customer is read through the customer service as ActorWebhooks,
// so the disclosure is on the audit trail like any read.
func (s *Service) body(ctx context.Context, h *custodian.WebhookRecord, d custodian.WebhookDelivery) ([]byte, error) {
	p := Payload{ID: d.ID, Type: d.EventType, Timestamp: d.OccurredAt, Data: PayloadData{DeliveryID: d.ID, CustomerID: d.CustomerID, Fields: d.Fields, OccurredAt: d.OccurredAt}}
	if h.PersonalData && s.o.Customers != nil && d.EventType != custodian.EventCustomerDeleted && d.EventType != custodian.EventCustomerErased {
		rctx := custodian.WithPurpose(custodian.WithActor(ctx, custodian.ActorWebhooks), "webhook "+h.ID)
		c, err := s.o.Customers.Customer(rctx, d.CustomerID)
		switch code := custodian.ErrorCode(err); {
		case err == nil:
			p.Data.Customer = c
		case code == custodian.ENOTFOUND || code == custodian.EGONE:
		default:
			return nil, err
		}
	}
	return json.Marshal(p)
}

// attempt makes one attempt and stores its outcome.
func (s *Service) attempt(ctx context.Context, d custodian.WebhookDelivery, hook func(string) (*custodian.WebhookRecord, error)) {
	code, err := s.send(ctx, d, hook)
	now := s.timestamp()
	d.LastAttemptAt, d.LastStatusCode, d.LastError = now, code, ""
	switch {
	case err == nil:
		d.Status, d.NextAttemptAt = custodian.DeliverySucceeded, now
	case errors.Is(err, errInactive):
		d.Status, d.NextAttemptAt, d.LastError = custodian.DeliveryFailed, now, err.Error()
	default:
		d.LastError = err.Error()
		next := now.Add(s.o.Retry.delay(d.Attempts))
		if next.After(d.CreatedAt.Add(s.o.Retry.MaxAge)) {
			d.Status, d.NextAttemptAt = custodian.DeliveryFailed, now
		} else {
			d.Status, d.NextAttemptAt = custodian.DeliveryPending, next
		}
		s.o.Logger.Warn("webhook delivery attempt failed", "webhook", d.WebhookID, "delivery", d.ID, "attempt", d.Attempts, "status", code, "next", d.Status)
	}
	if ctx.Err() != nil {
		// Stopping: an attempt the stop cut short is no answer from the
		// endpoint. Hand the delivery back, due now, so that the next
		// server (this one restarted, or another instance) sends it at
		// once rather than when the lease ends; if even that cannot be
		// stored, the lease brings it back.
		if err != nil {
			d.Status, d.NextAttemptAt = custodian.DeliveryPending, now
		}
		stop, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = s.repo.FinishWebhookAttempt(stop, d)
		return
	}
	if err := s.repo.FinishWebhookAttempt(ctx, d); err != nil {
		s.o.Logger.Error("webhook delivery outcome not stored; it will be retried when its lease ends", "delivery", d.ID, "err", err)
	}
}

// send posts the delivery, signed, and returns the status the endpoint
// answered (0 when it did not) and why the attempt failed.
func (s *Service) send(ctx context.Context, d custodian.WebhookDelivery, hook func(string) (*custodian.WebhookRecord, error)) (int, error) {
	h, err := hook(d.WebhookID)
	if err != nil {
		return 0, err
	}
	if !h.Active {
		return 0, errInactive
	}
	body, err := s.body(ctx, h, d)
	if err != nil {
		return 0, fmt.Errorf("building the payload: %w", err)
	}
	now := s.o.Now()
	keys, err := s.signingKeys(h, now)
	if err != nil {
		return 0, err
	}
	var sigs []byte
	for i, k := range keys {
		if i > 0 {
			sigs = append(sigs, ' ')
		}
		sigs = append(sigs, Sign(k, d.ID, now, body)...)
	}
	ctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL, bytes.NewReader(body))
	if err != nil {
		return 0, errors.New("the endpoint's URL cannot be requested")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Custodian-Webhooks/1")
	req.Header.Set(HeaderID, d.ID)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(HeaderSignature, string(sigs))
	resp, err := s.client.Do(req)
	if err != nil {
		// A *url.Error repeats the URL, which may hold a token: keep the cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if errors.Is(err, ErrBlockedAddress) {
			return 0, errors.New("refused: the endpoint resolved to an address webhooks may not reach")
		}
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("the endpoint answered %d", resp.StatusCode)
	}
	return resp.StatusCode, nil
}

// delay is the wait after the n-th failed attempt (1-based), with "equal
// jitter": uniformly in [d/2, d].
func (r Retry) delay(attempt int) time.Duration {
	d := r.Max
	if attempt >= 1 && attempt-1 < 32 {
		if e := r.Base << (attempt - 1); e > 0 && e < d {
			d = e
		}
	}
	half := d / 2
	return half + rand.N(d-half+1) // #nosec G404 -- retry jitter only spreads load; it needs no unpredictability
}
