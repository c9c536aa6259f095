package client

import (
	"context"
	"net/http"
	"strconv"
)

// Consents returns a customer's consent: the current state per purpose and
// the append-only history. An erased customer's history remains, without
// source or evidence.
func (c *Client) Consents(ctx context.Context, id string) (*Consents, error) {
	return answer[Consents](ctx, c, call{method: http.MethodGet, path: pathOf("customers", id, "consents")})
}

// RecordConsent records that consent for a purpose (one the server is
// configured with) was given or withdrawn, and returns the recorded event.
func (c *Client) RecordConsent(ctx context.Context, id string, in ConsentInput) (*ConsentEvent, error) {
	return answer[ConsentEvent](ctx, c, call{method: http.MethodPost, path: pathOf("customers", id, "consents"), body: in})
}

// SetLegalHold sets (in.Active) or lifts a legal hold on a customer, with
// a reason either way, and returns the hold now in force: nil once lifted.
// A hold suspends retention, erasure and deletion.
func (c *Client) SetLegalHold(ctx context.Context, id string, in LegalHoldInput) (*LegalHold, error) {
	r, err := answer[LegalHoldResult](ctx, c, call{method: http.MethodPut, path: pathOf("customers", id, "legal-hold"), body: in})
	if err != nil || r.LegalHold.IsNull() || !r.LegalHold.IsSpecified() {
		return nil, err
	}
	hold := r.LegalHold.MustGet()
	return &hold, nil
}

// EraseCustomer erases a customer's personal data for good, for reason:
// the record is deleted and its key destroyed, and a tombstone remains.
// Erasing again answers the same tombstone with AlreadyErased set.
func (c *Client) EraseCustomer(ctx context.Context, id, reason string) (*Erasure, error) {
	return answer[Erasure](ctx, c, call{method: http.MethodPost, path: pathOf("customers", id, "erase"), body: ErasureInput{Reason: reason}})
}

// ExportCustomer returns everything held about a customer (the format
// custodian-export/v1): fields, consents, legal hold and every audit event
// about them; for an erased customer, the tombstone and what remains.
func (c *Client) ExportCustomer(ctx context.Context, id string) (*Export, error) {
	return answer[Export](ctx, c, call{method: http.MethodGet, path: pathOf("customers", id, "export")})
}

// Activities returns the activities (notes, calls, meetings, emails)
// logged on a customer, newest first.
func (c *Client) Activities(ctx context.Context, id string) ([]Activity, error) {
	r, err := answer[ActivityList](ctx, c, call{method: http.MethodGet, path: pathOf("customers", id, "activities")})
	if err != nil {
		return nil, err
	}
	return r.Activities, nil
}

// LogActivity logs an activity on a customer, authored by the caller, and
// returns it. Its text is sealed with the customer's data key.
func (c *Client) LogActivity(ctx context.Context, id string, in ActivityInput) (*Activity, error) {
	return answer[Activity](ctx, c, call{method: http.MethodPost, path: pathOf("customers", id, "activities"), body: in})
}

// Tasks returns the follow-up tasks set on a customer, open ones first.
func (c *Client) Tasks(ctx context.Context, id string) ([]Task, error) {
	r, err := answer[TaskList](ctx, c, call{method: http.MethodGet, path: pathOf("customers", id, "tasks")})
	if err != nil {
		return nil, err
	}
	return r.Items, nil
}

// AddTask sets a follow-up task on a customer (assigned to the caller
// unless in.Assignee names someone) and returns it. Its title is sealed
// with the customer's data key.
func (c *Client) AddTask(ctx context.Context, id string, in TaskInput) (*Task, error) {
	return answer[Task](ctx, c, call{method: http.MethodPost, path: pathOf("customers", id, "tasks"), body: in})
}

// UpdateTask changes the members in sets of a customer's task (marking it
// done or open again, moving its due day, reassigning or renaming it) and
// returns the task.
func (c *Client) UpdateTask(ctx context.Context, id string, task int64, in TaskUpdate) (*Task, error) {
	return answer[Task](ctx, c, call{method: http.MethodPatch, path: pathOf("customers", id, "tasks", strconv.FormatInt(task, 10)), body: in})
}

// DeleteTask deletes a customer's task.
func (c *Client) DeleteTask(ctx context.Context, id string, task int64) error {
	return c.do(ctx, call{method: http.MethodDelete, path: pathOf("customers", id, "tasks", strconv.FormatInt(task, 10))}, nil)
}

// MyTasks returns the caller's open tasks that are due today (UTC) or
// overdue, oldest due first, with their customers' names.
func (c *Client) MyTasks(ctx context.Context) ([]AssignedTask, error) {
	r, err := answer[AssignedTaskList](ctx, c, call{method: http.MethodGet, path: pathOf("tasks", "mine")})
	if err != nil {
		return nil, err
	}
	return r.Items, nil
}
