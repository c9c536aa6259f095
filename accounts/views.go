package accounts

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/custodian-crm/custodian"
)

// fieldViewState is the field name a saved view's state is sealed under.
const fieldViewState = "view state"

var errNoView = custodian.Errorf(custodian.ENOTFOUND, "View not found.")

// visible reports whether p may see r: their own view, or a shared one.
func visible(p *custodian.Principal, r *custodian.ViewRecord) bool {
	return r.Owner == "" || r.Owner == p.User.ID
}

// mayChange returns nil when p may rename, change or delete r: their own
// view, or a shared one when their role may share views. A view p cannot
// see is not found, so that its existence is not told.
func mayChange(p *custodian.Principal, r *custodian.ViewRecord) error {
	switch {
	case !visible(p, r):
		return errNoView
	case r.Owner == "" && !p.User.Role.Can(custodian.PermViewsShare):
		return custodian.Errorf(custodian.EFORBIDDEN, "Only managers and administrators change shared views.")
	}
	return nil
}

// mayUpdate returns nil when p may change r (see mayChange) and r is at
// version ifVersion (any when 0); EPRECONDITION when it was changed since.
func mayUpdate(p *custodian.Principal, r *custodian.ViewRecord, ifVersion int64) error {
	if err := mayChange(p, r); err != nil {
		return err
	}
	if ifVersion != 0 && r.Version != ifVersion {
		return custodian.Errorf(custodian.EPRECONDITION, "The view was changed meanwhile; reload it and try again.")
	}
	return nil
}

// openView decrypts a stored view.
func (s *Service) openView(r *custodian.ViewRecord) (*custodian.View, error) {
	dk, err := s.sealer.OpenDataKey(r.ID, r.KeyID, r.DataKey)
	if err != nil {
		return nil, fmt.Errorf("view %s: %w", r.ID, err)
	}
	b, err := dk.Open(fieldViewState, r.StateCT)
	if err != nil {
		return nil, fmt.Errorf("view %s: %w", r.ID, err)
	}
	v := &custodian.View{ID: r.ID, Name: r.Name, Shared: r.Owner == "", Owner: r.Owner, CreatedBy: r.CreatedBy,
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, Version: r.Version}
	if err := json.Unmarshal(b, &v.State); err != nil {
		return nil, fmt.Errorf("view %s: state: %w", r.ID, err)
	}
	return v, nil
}

// sealViewState seals st into r under r's data key, made now when r has
// none.
func (s *Service) sealViewState(r *custodian.ViewRecord, st custodian.ViewState) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if r.DataKey == nil {
		dk, keyID, wrapped, err := s.sealer.NewDataKey(r.ID)
		if err != nil {
			return err
		}
		r.KeyID, r.DataKey, r.StateCT = keyID, wrapped, dk.Seal(fieldViewState, b)
		return nil
	}
	dk, err := s.sealer.OpenDataKey(r.ID, r.KeyID, r.DataKey)
	if err != nil {
		return fmt.Errorf("view %s: %w", r.ID, err)
	}
	r.StateCT = dk.Seal(fieldViewState, b)
	return nil
}

// Views returns p's views and the shared ones, shared first.
func (s *Service) Views(ctx context.Context, p *custodian.Principal) ([]custodian.View, error) {
	recs, err := s.repo.ViewRecords(ctx, p.User.ID)
	if err != nil {
		return nil, err
	}
	out := make([]custodian.View, 0, len(recs))
	for i := range recs {
		v, err := s.openView(&recs[i])
		if err != nil {
			return nil, err
		}
		out = append(out, *v)
	}
	return out, nil
}

// View returns one view p may see.
func (s *Service) View(ctx context.Context, p *custodian.Principal, id string) (*custodian.View, error) {
	r, err := s.repo.ViewRecord(ctx, id)
	if err != nil {
		return nil, err
	}
	if !visible(p, r) {
		return nil, errNoView
	}
	return s.openView(r)
}

// CreateView saves in for p, or in the shared set when in.Shared and p's
// role may share views, with a view.create event naming the view.
func (s *Service) CreateView(ctx context.Context, p *custodian.Principal, in custodian.ViewInput) (*custodian.View, error) {
	in, err := in.Check()
	if err != nil {
		return nil, err
	}
	if in.Shared && !p.User.Role.Can(custodian.PermViewsShare) {
		return nil, custodian.Errorf(custodian.EFORBIDDEN, "Only managers and administrators save shared views.")
	}
	now := s.now()
	r := &custodian.ViewRecord{ID: custodian.NewViewID(), Name: in.Name, CreatedBy: p.User.ID, CreatedAt: now, UpdatedAt: now, Version: 1}
	if !in.Shared {
		r.Owner = p.User.ID
	}
	if err := s.sealViewState(r, in.State); err != nil {
		return nil, err
	}
	err = s.repo.Audited(ctx, func(ctx context.Context) ([]custodian.AuditEntry, error) {
		return []custodian.AuditEntry{event(custodian.ActionViewCreate, r.ID, map[string]any{"shared": in.Shared}, "name", "state")}, s.repo.CreateView(ctx, r)
	})
	if err != nil {
		return nil, err
	}
	return s.openView(r)
}

// UpdateView renames a view p may change or replaces its state, with a
// view.update event naming the fields changed.
func (s *Service) UpdateView(ctx context.Context, p *custodian.Principal, id string, ifVersion int64, patch custodian.ViewPatch) (*custodian.View, error) {
	patch, fields, err := patch.Check()
	if err != nil {
		return nil, err
	}
	if len(fields) == 0 { // nothing to change: no new version, no event
		cur, err := s.repo.ViewRecord(ctx, id)
		if err != nil {
			return nil, err
		}
		if err := mayUpdate(p, cur, ifVersion); err != nil {
			return nil, err
		}
		return s.openView(cur)
	}
	var out *custodian.ViewRecord
	err = s.repo.Audited(ctx, func(ctx context.Context) ([]custodian.AuditEntry, error) {
		err := s.repo.UpdateView(ctx, id, func(cur *custodian.ViewRecord) (*custodian.ViewRecord, error) {
			if err := mayUpdate(p, cur, ifVersion); err != nil {
				return nil, err
			}
			next := *cur
			if patch.Name != nil {
				next.Name = *patch.Name
			}
			if patch.State != nil {
				if err := s.sealViewState(&next, *patch.State); err != nil {
					return nil, err
				}
			}
			next.UpdatedAt, next.Version = s.now(), cur.Version+1
			out = &next
			return &next, nil
		})
		if err != nil {
			return nil, err
		}
		return []custodian.AuditEntry{event(custodian.ActionViewUpdate, id, map[string]any{"shared": out.Owner == ""}, fields...)}, nil
	})
	if err != nil {
		return nil, err
	}
	return s.openView(out)
}

// DeleteView removes a view p may change, with a view.delete event.
func (s *Service) DeleteView(ctx context.Context, p *custodian.Principal, id string) error {
	return s.repo.Audited(ctx, func(ctx context.Context) ([]custodian.AuditEntry, error) {
		shared := false
		err := s.repo.DeleteView(ctx, id, func(cur *custodian.ViewRecord) error {
			shared = cur.Owner == ""
			return mayChange(p, cur)
		})
		if err != nil {
			return nil, err
		}
		return []custodian.AuditEntry{event(custodian.ActionViewDelete, id, map[string]any{"shared": shared})}, nil
	})
}
