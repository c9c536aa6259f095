package custodian

import (
	"context"
	"strings"
	"time"
)

// MaxTaskTitleLen bounds a follow-up task's title, in characters.
const MaxTaskTitleLen = 300

// TaskInput is a follow-up task as a user sets it on a customer: what to
// do, by which day and who does it (a user id; the caller when empty).
type TaskInput struct {
	Title    string    `json:"title"`
	Due      time.Time `json:"due"`
	Assignee string    `json:"assignee"`
}

// Check validates in and returns it with its title trimmed and its due
// date as the start of its day in UTC.
func (in TaskInput) Check() (TaskInput, error) {
	var errs fieldErrors
	in.Title = strings.TrimSpace(in.Title)
	switch {
	case in.Title == "":
		errs.add("title", "Say what is to be done.")
	case !PrintableText(in.Title, MaxTaskTitleLen):
		errs.add("title", "Must be printable text of at most %d characters.", MaxTaskTitleLen)
	}
	if in.Due.IsZero() {
		errs.add("due", "Give a due date.")
	}
	in.Due = DayOf(in.Due)
	if len(errs) > 0 {
		return in, &Error{Code: EINVALID, Message: "The task has invalid fields.", Fields: errs}
	}
	return in, nil
}

// TaskUpdate is a change to a follow-up task: each field that is not nil
// replaces the task's.
type TaskUpdate struct {
	Title    *string    `json:"title"`
	Due      *time.Time `json:"due"`
	Assignee *string    `json:"assignee"`
	Done     *bool      `json:"done"`
}

// DayOf returns the start of t's day in UTC.
func DayOf(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// Task is a follow-up task on a customer. Title is personal data, stored
// sealed with the customer's data key.
type Task struct {
	ID         int64     `json:"id"`
	CustomerID string    `json:"customer_id"`
	Title      string    `json:"title"`
	Due        time.Time `json:"due"`
	Assignee   string    `json:"assignee"`
	Done       bool      `json:"done"`
	CreatedBy  string    `json:"created_by"`
	CreatedAt  time.Time `json:"created_at"`
}

// TaskRecord is a task at rest: its title sealed with the customer's data
// key.
type TaskRecord struct {
	Seq        int64
	CustomerID string
	Due        time.Time
	Assignee   string
	Done       bool
	CreatedBy  string
	CreatedAt  time.Time
	TitleCT    []byte
}

// TaskRepository keeps follow-up tasks. They go with their customer:
// deleting or erasing it deletes them in the same transaction.
type TaskRepository interface {
	// AddTask locks the customer's record, passes it to fn and stores the
	// task fn returns, returning its sequence number; ENOTFOUND when there
	// is no such customer.
	AddTask(ctx context.Context, customerID string, fn func(cur *CustomerRecord) (*TaskRecord, error)) (int64, error)
	// CustomerTasks returns the customer's tasks, open ones first, each
	// group by due date.
	CustomerTasks(ctx context.Context, customerID string) ([]TaskRecord, error)
	// OpenTasks returns the open tasks assigned to assignee that are due
	// on or before dueBy, oldest due first.
	OpenTasks(ctx context.Context, assignee string, dueBy time.Time) ([]TaskRecord, error)
	// SetTaskDone marks the customer's task seq done or open again;
	// ENOTFOUND when the customer has no such task.
	SetTaskDone(ctx context.Context, customerID string, seq int64, done bool) error
	// UpdateTask locks the customer's record and its task seq, passes
	// both to fn and stores the task fn returns (its title, due day,
	// assignee and state); ENOTFOUND when the customer has no such task.
	UpdateTask(ctx context.Context, customerID string, seq int64, fn func(cur *CustomerRecord, k *TaskRecord) (*TaskRecord, error)) error
	// DeleteTask deletes the customer's task seq; ENOTFOUND when the
	// customer has no such task.
	DeleteTask(ctx context.Context, customerID string, seq int64) error
}

// AssignedTask is an open task of the "my tasks" view, with the name of
// its customer.
type AssignedTask struct {
	Task
	CustomerName string `json:"customer_name"`
	Overdue      bool   `json:"overdue"`
}

// TaskService sets follow-up tasks on customers and lists them.
type TaskService interface {
	// AddTask validates in and sets it on the customer, with its audit
	// event.
	AddTask(ctx context.Context, customerID string, in TaskInput) (*Task, error)
	// Tasks returns the customer's tasks, open ones first.
	Tasks(ctx context.Context, customerID string) ([]Task, error)
	// SetTaskDone marks a task of the customer done or open again.
	SetTaskDone(ctx context.Context, customerID string, id int64, done bool) error
	// UpdateTask changes what in sets on a task of the customer (a nil
	// field stays as it is), with its audit event, and returns the task.
	UpdateTask(ctx context.Context, customerID string, id int64, in TaskUpdate) (*Task, error)
	// DeleteTask deletes a task of the customer, with its audit event.
	DeleteTask(ctx context.Context, customerID string, id int64) error
	// MyTasks returns the open tasks assigned to the context's actor that
	// are due today or overdue, oldest due first.
	MyTasks(ctx context.Context) ([]AssignedTask, error)
}
