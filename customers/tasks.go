package customers

import (
	"context"
	"strconv"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/crypto"
)

// fTaskTitle is the field name bound into the ciphertext of a task's
// title.
const fTaskTitle = "task.title"

// AddTask validates in and sets it on the customer, assigned to
// in.Assignee (the context's actor when empty), with its audit event, in
// one transaction. The title is sealed with the customer's data key.
func (s *Service) AddTask(ctx context.Context, id string, in custodian.TaskInput) (*custodian.Task, error) {
	if !custodian.ValidCustomerID(id) {
		return nil, errNoCustomer
	}
	in, err := in.Check()
	if err != nil {
		return nil, err
	}
	now, actor := s.timestamp(), custodian.ActorFrom(ctx)
	if in.Assignee == "" {
		in.Assignee = actor
	}
	k := &custodian.Task{CustomerID: id, Title: in.Title, Due: in.Due, Assignee: in.Assignee, CreatedBy: actor, CreatedAt: now}
	err = s.repo.Audited(ctx, func(ctx context.Context) ([]custodian.AuditEntry, error) {
		seq, err := s.repo.AddTask(ctx, id, func(cur *custodian.CustomerRecord) (*custodian.TaskRecord, error) {
			dk, err := s.dataKey(ctx, cur.ID, cur.KeyID, cur.DataKey, nil)
			if err != nil {
				return nil, err
			}
			return &custodian.TaskRecord{CustomerID: id, Due: k.Due, Assignee: k.Assignee, CreatedBy: actor, CreatedAt: now, TitleCT: dk.Seal(fTaskTitle, []byte(k.Title))}, nil
		})
		k.ID = seq
		data := custodian.AccessData{Purpose: custodian.PurposeFrom(ctx)}.Encode()
		return []custodian.AuditEntry{{Action: custodian.ActionTaskAdd, Subject: id, Data: data, Time: now}}, err
	})
	if err != nil {
		return nil, s.goneOr(ctx, id, err)
	}
	return k, nil
}

// Tasks returns the customer's tasks, open ones first, their titles
// opened with the customer's data key.
func (s *Service) Tasks(ctx context.Context, id string) ([]custodian.Task, error) {
	if !custodian.ValidCustomerID(id) {
		return nil, errNoCustomer
	}
	rec, err := s.repo.CustomerRecord(ctx, id)
	if err != nil {
		return nil, s.goneOr(ctx, id, err)
	}
	return s.tasks(ctx, rec)
}

// tasks opens the tasks of the customer whose record is rec.
func (s *Service) tasks(ctx context.Context, rec *custodian.CustomerRecord) ([]custodian.Task, error) {
	recs, err := s.repo.CustomerTasks(ctx, rec.ID)
	if err != nil || len(recs) == 0 {
		return []custodian.Task{}, err
	}
	dk, err := s.dataKey(ctx, rec.ID, rec.KeyID, rec.DataKey, nil)
	if err != nil {
		return nil, err
	}
	out := make([]custodian.Task, 0, len(recs))
	for _, r := range recs {
		k, err := openTask(dk, r)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, nil
}

func openTask(dk *crypto.DataKey, r custodian.TaskRecord) (custodian.Task, error) {
	title, err := dk.Open(fTaskTitle, r.TitleCT)
	if err != nil {
		return custodian.Task{}, &custodian.Error{Code: custodian.EINTERNAL, Message: "A task could not be decrypted.", Err: err}
	}
	return custodian.Task{ID: r.Seq, CustomerID: r.CustomerID, Title: string(title), Due: r.Due, Assignee: r.Assignee, Done: r.Done, CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt}, nil
}

// SetTaskDone marks a task of the customer done or open again, with its
// audit event.
func (s *Service) SetTaskDone(ctx context.Context, id string, task int64, done bool) error {
	if !custodian.ValidCustomerID(id) {
		return errNoCustomer
	}
	err := s.repo.Audited(ctx, func(ctx context.Context) ([]custodian.AuditEntry, error) {
		state := "open"
		if done {
			state = "done"
		}
		data := custodian.AccessData{Purpose: custodian.PurposeFrom(ctx), State: state, Reason: "task " + strconv.FormatInt(task, 10)}.Encode()
		return []custodian.AuditEntry{{Action: custodian.ActionTaskDone, Subject: id, Data: data}}, s.repo.SetTaskDone(ctx, id, task, done)
	})
	return s.goneOr(ctx, id, err)
}

// UpdateTask changes what in sets on a task of the customer, validated
// like a new task, with its audit event (naming the changed fields, never
// their values), in one transaction; a new title is sealed with the
// customer's data key. It returns the task as stored.
func (s *Service) UpdateTask(ctx context.Context, id string, task int64, in custodian.TaskUpdate) (*custodian.Task, error) {
	if !custodian.ValidCustomerID(id) {
		return nil, errNoCustomer
	}
	var out custodian.Task
	err := s.repo.Audited(ctx, func(ctx context.Context) ([]custodian.AuditEntry, error) {
		var fields []string
		err := s.repo.UpdateTask(ctx, id, task, func(cur *custodian.CustomerRecord, k *custodian.TaskRecord) (*custodian.TaskRecord, error) {
			dk, err := s.dataKey(ctx, cur.ID, cur.KeyID, cur.DataKey, nil)
			if err != nil {
				return nil, err
			}
			old, err := openTask(dk, *k)
			if err != nil {
				return nil, err
			}
			next := custodian.TaskInput{Title: old.Title, Due: old.Due, Assignee: old.Assignee}
			if in.Title != nil {
				next.Title = *in.Title
			}
			if in.Due != nil {
				next.Due = *in.Due
			}
			if in.Assignee != nil {
				next.Assignee = *in.Assignee
				if next.Assignee == "" {
					next.Assignee = custodian.ActorFrom(ctx)
				}
			}
			if next, err = next.Check(); err != nil {
				return nil, err
			}
			done := old.Done
			if in.Done != nil {
				done = *in.Done
			}
			if next.Title != old.Title {
				fields = append(fields, "title")
			}
			if !next.Due.Equal(old.Due) {
				fields = append(fields, "due")
			}
			if next.Assignee != old.Assignee {
				fields = append(fields, "assignee")
			}
			if done != old.Done {
				fields = append(fields, "done")
			}
			r := *k
			r.Due, r.Assignee, r.Done = next.Due, next.Assignee, done
			if next.Title != old.Title {
				r.TitleCT = dk.Seal(fTaskTitle, []byte(next.Title))
			}
			out = old
			out.Title, out.Due, out.Assignee, out.Done = next.Title, next.Due, next.Assignee, done
			return &r, nil
		})
		data := custodian.AccessData{Purpose: custodian.PurposeFrom(ctx), Reason: "task " + strconv.FormatInt(task, 10)}.Encode()
		return []custodian.AuditEntry{{Action: custodian.ActionTaskUpdate, Subject: id, Fields: fields, Data: data}}, err
	})
	if err != nil {
		return nil, s.goneOr(ctx, id, err)
	}
	return &out, nil
}

// DeleteTask deletes a task of the customer, with its audit event.
func (s *Service) DeleteTask(ctx context.Context, id string, task int64) error {
	if !custodian.ValidCustomerID(id) {
		return errNoCustomer
	}
	err := s.repo.Audited(ctx, func(ctx context.Context) ([]custodian.AuditEntry, error) {
		data := custodian.AccessData{Purpose: custodian.PurposeFrom(ctx), Reason: "task " + strconv.FormatInt(task, 10)}.Encode()
		return []custodian.AuditEntry{{Action: custodian.ActionTaskDelete, Subject: id, Data: data}}, s.repo.DeleteTask(ctx, id, task)
	})
	return s.goneOr(ctx, id, err)
}

// MyTasks returns the open tasks assigned to the context's actor that are
// due today (in UTC) or overdue, with their customers' names.
func (s *Service) MyTasks(ctx context.Context) ([]custodian.AssignedTask, error) {
	today := custodian.DayOf(s.now())
	recs, err := s.repo.OpenTasks(ctx, custodian.ActorFrom(ctx), today)
	if err != nil || len(recs) == 0 {
		return []custodian.AssignedTask{}, err
	}
	ids := make([]string, 0, len(recs))
	for _, r := range recs {
		ids = append(ids, r.CustomerID)
	}
	crs, err := s.repo.CustomerRecords(ctx, ids)
	if err != nil {
		return nil, err
	}
	pre, err := s.secrets(ctx, crs)
	if err != nil {
		return nil, err
	}
	customers := map[string]*custodian.Customer{}
	keys := map[string]*crypto.DataKey{}
	for _, cr := range crs {
		if customers[cr.ID] != nil {
			continue
		}
		c, err := s.openRecord(ctx, cr, pre)
		if err != nil {
			return nil, err
		}
		dk, err := s.dataKey(ctx, cr.ID, cr.KeyID, cr.DataKey, pre)
		if err != nil {
			return nil, err
		}
		customers[cr.ID], keys[cr.ID] = c, dk
	}
	out := make([]custodian.AssignedTask, 0, len(recs))
	for _, r := range recs {
		dk := keys[r.CustomerID]
		if dk == nil {
			continue // the customer went since the tasks were read
		}
		k, err := openTask(dk, r)
		if err != nil {
			return nil, err
		}
		out = append(out, custodian.AssignedTask{Task: k, CustomerName: customers[r.CustomerID].Name, Overdue: k.Due.Before(today)})
	}
	// The list shows the customers' names: a read of personal data, recorded
	// like a list page's.
	shown := make([]*custodian.Customer, 0, len(customers))
	for _, c := range customers {
		shown = append(shown, c)
	}
	if err := s.recordReads(ctx, shown...); err != nil {
		return nil, err
	}
	return out, nil
}
