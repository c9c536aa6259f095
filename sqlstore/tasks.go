package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/custodian-crm/custodian"
)

var errNoTask = custodian.Errorf(custodian.ENOTFOUND, "Task not found.")

// AddTask stores the task fn returns for the locked record.
func (s *Store) AddTask(ctx context.Context, customerID string, fn func(cur *custodian.CustomerRecord) (*custodian.TaskRecord, error)) (int64, error) {
	var seq int64
	err := s.inTx(ctx, "add task", func(tx *sql.Tx) error {
		cur, cseq, err := s.lockRecord(ctx, tx, customerID)
		if err != nil {
			return err
		}
		k, err := fn(cur)
		if err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, s.q(`INSERT INTO customer_tasks (customer_seq, due_us, assignee, done, created_by, created_us, title_ct)
			VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING seq`),
			cseq, micros(k.Due), k.Assignee, boolInt(k.Done), k.CreatedBy, micros(k.CreatedAt), nonNilBytes(k.TitleCT)).Scan(&seq)
	})
	return seq, err
}

const taskColumns = `k.seq, c.id, k.due_us, k.assignee, k.done, k.created_by, k.created_us, k.title_ct`

// CustomerTasks returns a customer's tasks, open ones first, by due day.
func (s *Store) CustomerTasks(ctx context.Context, customerID string) ([]custodian.TaskRecord, error) {
	return s.tasks(ctx, `SELECT `+taskColumns+` FROM customer_tasks k JOIN customers c ON c.seq = k.customer_seq
		WHERE c.id = ? ORDER BY k.done, k.due_us, k.seq`, customerID)
}

// OpenTasks returns the open tasks of assignee due on or before dueBy.
func (s *Store) OpenTasks(ctx context.Context, assignee string, dueBy time.Time) ([]custodian.TaskRecord, error) {
	return s.tasks(ctx, `SELECT `+taskColumns+` FROM customer_tasks k JOIN customers c ON c.seq = k.customer_seq
		WHERE k.assignee = ? AND k.done = 0 AND k.due_us <= ? ORDER BY k.due_us, k.seq`, assignee, micros(dueBy))
}

func (s *Store) tasks(ctx context.Context, query string, args ...any) ([]custodian.TaskRecord, error) {
	rows, err := s.reader(ctx).QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, internal("tasks", err)
	}
	defer rows.Close()
	var out []custodian.TaskRecord
	for rows.Next() {
		var r custodian.TaskRecord
		var due, created int64
		var done int
		if err := rows.Scan(&r.Seq, &r.CustomerID, &due, &r.Assignee, &done, &r.CreatedBy, &created, &r.TitleCT); err != nil {
			return nil, internal("tasks", err)
		}
		r.Due, r.CreatedAt, r.Done = fromMicros(due), fromMicros(created), done == 1
		out = append(out, r)
	}
	return out, internal("tasks", rows.Err())
}

// SetTaskDone marks the customer's task done or open again.
func (s *Store) SetTaskDone(ctx context.Context, customerID string, seq int64, done bool) error {
	return s.execFound(ctx, "set task done", errNoTask,
		`UPDATE customer_tasks SET done = ? WHERE seq = ? AND customer_seq = (SELECT seq FROM customers WHERE id = ?)`, boolInt(done), seq, customerID)
}

// UpdateTask locks the customer's record and its task seq, passes both to
// fn and stores the task fn returns (its title, due day, assignee and
// state; never its customer or creator).
func (s *Store) UpdateTask(ctx context.Context, customerID string, seq int64, fn func(cur *custodian.CustomerRecord, k *custodian.TaskRecord) (*custodian.TaskRecord, error)) error {
	return s.inTx(ctx, "update task", func(tx *sql.Tx) error {
		cur, cseq, err := s.lockRecord(ctx, tx, customerID)
		if err != nil {
			return err
		}
		var k custodian.TaskRecord
		var due, created int64
		var done int
		err = tx.QueryRowContext(ctx, s.q(`SELECT seq, due_us, assignee, done, created_by, created_us, title_ct FROM customer_tasks
			WHERE seq = ? AND customer_seq = ?`+s.dialect.ForUpdate), seq, cseq).
			Scan(&k.Seq, &due, &k.Assignee, &done, &k.CreatedBy, &created, &k.TitleCT)
		if errors.Is(err, sql.ErrNoRows) {
			return errNoTask
		}
		if err != nil {
			return err
		}
		k.CustomerID, k.Due, k.CreatedAt, k.Done = customerID, fromMicros(due), fromMicros(created), done == 1
		next, err := fn(cur, &k)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, s.q(`UPDATE customer_tasks SET due_us = ?, assignee = ?, done = ?, title_ct = ? WHERE seq = ?`),
			micros(next.Due), next.Assignee, boolInt(next.Done), nonNilBytes(next.TitleCT), seq)
		return err
	})
}

// DeleteTask deletes the customer's task seq.
func (s *Store) DeleteTask(ctx context.Context, customerID string, seq int64) error {
	return s.execFound(ctx, "delete task", errNoTask,
		`DELETE FROM customer_tasks WHERE seq = ? AND customer_seq = (SELECT seq FROM customers WHERE id = ?)`, seq, customerID)
}
