package storetest

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	"github.com/custodian-crm/custodian"
)

// taskRows counts every stored task.
func (e *privacyEnv) taskRows(t *testing.T) int {
	t.Helper()
	var n int
	if err := e.DB.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM customer_tasks`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// testTasks sets follow-up tasks, lists what is due today and overdue for
// their assignee, marks one done, refuses bad input, keeps titles sealed,
// and deletes tasks with their customer on erasure and deletion.
func testTasks(t *testing.T, e *privacyEnv) {
	now := time.Date(2026, 12, 6, 15, 0, 0, 0, time.UTC)
	e.clock.set(now)
	a := e.create(t, "Tara Task")
	b := e.create(t, "Tom Task")
	sales := custodian.WithActor(e.ctx, "usr_sales")
	add := func(id, title string, due time.Time, assignee string) *custodian.Task {
		t.Helper()
		k, err := e.svc.AddTask(sales, id, custodian.TaskInput{Title: title, Due: due, Assignee: assignee})
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	overdue := add(a.ID, "Send the quote", now.AddDate(0, 0, -2), "")
	today := add(b.ID, "Call back about delivery", now.Add(-10*time.Hour), "")
	add(a.ID, "Renewal meeting", now.AddDate(0, 0, 3), "")
	add(a.ID, "Someone else's", now.AddDate(0, 0, -1), "usr_other")
	if overdue.Assignee != "usr_sales" || overdue.CreatedBy != "usr_sales" || !overdue.Due.Equal(time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("task %+v", overdue)
	}

	mine, err := e.svc.MyTasks(sales)
	if err != nil {
		t.Fatal(err)
	}
	var titles []string
	for _, k := range mine {
		titles = append(titles, k.Title)
	}
	if !slices.Equal(titles, []string{"Send the quote", "Call back about delivery"}) || !mine[0].Overdue || mine[1].Overdue ||
		mine[0].CustomerName != "Tara Task" || mine[1].CustomerName != "Tom Task" {
		t.Fatalf("my tasks %+v", mine)
	}
	if err := e.svc.SetTaskDone(sales, a.ID, overdue.ID, true); err != nil {
		t.Fatal(err)
	}
	if mine, err := e.svc.MyTasks(sales); err != nil || len(mine) != 1 || mine[0].ID != today.ID {
		t.Fatalf("after done: %+v %v", mine, err)
	}
	// A task of another customer is not found through this one.
	wantCode(t, e.svc.SetTaskDone(sales, a.ID, today.ID, true), custodian.ENOTFOUND)
	ks, err := e.svc.Tasks(e.ctx, a.ID)
	if err != nil || len(ks) != 3 || ks[2].ID != overdue.ID || !ks[2].Done || ks[0].Done {
		t.Fatalf("customer tasks (open first) %+v %v", ks, err)
	}

	// Changed: renamed (sealed again), moved, reassigned, reopened; the
	// event names the fields, never the title.
	title, due, who, open := "Send the revised quote", now.AddDate(0, 0, 1), "usr_other", false
	k, err := e.svc.UpdateTask(sales, a.ID, overdue.ID, custodian.TaskUpdate{Title: &title, Due: &due, Assignee: &who, Done: &open})
	if err != nil || k.Title != title || !k.Due.Equal(custodian.DayOf(due)) || k.Assignee != who || k.Done || k.CreatedBy != "usr_sales" {
		t.Fatalf("updated task %+v %v", k, err)
	}
	if ks, err := e.svc.Tasks(e.ctx, a.ID); err != nil || !slices.ContainsFunc(ks, func(x custodian.Task) bool { return x.ID == overdue.ID && x.Title == title && !x.Done }) {
		t.Fatalf("after update %+v %v", ks, err)
	}
	evs := e.events(t, a.ID, custodian.ActionTaskUpdate)
	if ev := evs[0]; ev.Action != custodian.ActionTaskUpdate || !slices.Equal(ev.Fields, []string{"title", "due", "assignee", "done"}) || bytes.Contains(ev.Data, []byte("quote")) {
		t.Fatalf("update event %+v", ev)
	}
	empty := " "
	_, err = e.svc.UpdateTask(sales, a.ID, overdue.ID, custodian.TaskUpdate{Title: &empty})
	wantCode(t, err, custodian.EINVALID)
	_, err = e.svc.UpdateTask(sales, a.ID, today.ID, custodian.TaskUpdate{Done: &open})
	wantCode(t, err, custodian.ENOTFOUND)
	if ks, _ := e.svc.Tasks(e.ctx, a.ID); !slices.ContainsFunc(ks, func(x custodian.Task) bool { return x.ID == overdue.ID && x.Title == title }) {
		t.Fatal("a refused update changed the task")
	}
	// Deleted once, and only through its own customer.
	extra := add(a.ID, "Drop me", now, "")
	wantCode(t, e.svc.DeleteTask(sales, b.ID, extra.ID), custodian.ENOTFOUND)
	if err := e.svc.DeleteTask(sales, a.ID, extra.ID); err != nil {
		t.Fatal(err)
	}
	wantCode(t, e.svc.DeleteTask(sales, a.ID, extra.ID), custodian.ENOTFOUND)
	if evs := e.events(t, a.ID, custodian.ActionTaskDelete); len(evs) != 1 {
		t.Fatalf("delete events %+v", evs)
	}
	// The export lists the customer's tasks (right of access).
	x, err := e.svc.ExportCustomer(e.ctx, a.ID)
	if err != nil || len(x.Tasks) != 3 || !slices.ContainsFunc(x.Tasks, func(k custodian.Task) bool { return k.Title == title }) {
		t.Fatalf("export tasks %+v %v", x.Tasks, err)
	}
	// Undo the update for what follows.
	title, due, who, done := "Send the quote", now.AddDate(0, 0, -2), "usr_sales", true
	if _, err := e.svc.UpdateTask(sales, a.ID, overdue.ID, custodian.TaskUpdate{Title: &title, Due: &due, Assignee: &who, Done: &done}); err != nil {
		t.Fatal(err)
	}

	before := e.taskRows(t)
	for _, in := range []custodian.TaskInput{{Title: " ", Due: now}, {Title: "x"}, {Title: "a\x00b", Due: now}} {
		_, err := e.svc.AddTask(sales, a.ID, in)
		wantCode(t, err, custodian.EINVALID)
	}
	_, err = e.svc.AddTask(sales, custodian.NewCustomerID(), custodian.TaskInput{Title: "x", Due: now})
	wantCode(t, err, custodian.ENOTFOUND)
	if n := e.taskRows(t); n != before {
		t.Fatalf("bad input stored tasks: %d, was %d", n, before)
	}
	rows, err := e.DB.QueryContext(context.Background(), `SELECT title_ct FROM customer_tasks`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var ct []byte
		if err := rows.Scan(&ct); err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(ct, []byte("quote")) || bytes.Contains(ct, []byte("delivery")) {
			t.Fatal("a task title in plaintext at rest")
		}
	}
	rows.Close()

	if _, _, err := e.svc.EraseCustomer(e.ctx, a.ID, "request"); err != nil {
		t.Fatal(err)
	}
	if n := e.taskRows(t); n != 1 {
		t.Fatalf("after erasure %d task rows, want 1", n)
	}
	_, err = e.svc.Tasks(e.ctx, a.ID)
	wantCode(t, err, custodian.EGONE)
	if x, err := e.svc.ExportCustomer(e.ctx, a.ID); err != nil || x.Tasks == nil || len(x.Tasks) != 0 {
		t.Fatalf("an erased customer's export lists tasks: %+v %v", x, err)
	}
	if err := e.svc.DeleteCustomer(e.ctx, b.ID, 0); err != nil {
		t.Fatal(err)
	}
	if n := e.taskRows(t); n != 0 {
		t.Fatalf("after deletion %d task rows", n)
	}
	if mine, err := e.svc.MyTasks(sales); err != nil || len(mine) != 0 {
		t.Fatalf("my tasks after erasure and deletion: %+v %v", mine, err)
	}
}
