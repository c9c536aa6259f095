package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/custodian-crm/custodian"
)

var _ custodian.ImportJobRepository = (*Store)(nil)

// SaveImportJob stores the job, replacing the stored one of its id.
func (s *Store) SaveImportJob(ctx context.Context, j *custodian.ImportJob) error {
	b, err := json.Marshal(j)
	if err != nil {
		return internal("save import job", err)
	}
	return s.inTx(ctx, "save import job", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO import_jobs (id, state, created_by, created_us, updated_us, job) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET state = excluded.state, updated_us = excluded.updated_us, job = excluded.job`),
			j.ID, j.State, j.CreatedBy, micros(j.CreatedAt), micros(j.UpdatedAt), string(b))
		return err
	})
}

// ImportJob returns the job with id, or ENOTFOUND.
func (s *Store) ImportJob(ctx context.Context, id string) (*custodian.ImportJob, error) {
	var b, state string
	err := s.read.QueryRowContext(ctx, s.q(`SELECT state, job FROM import_jobs WHERE id = ?`), id).Scan(&state, &b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, custodian.Errorf(custodian.ENOTFOUND, "Import job not found.")
	}
	if err != nil {
		return nil, internal("get import job", err)
	}
	j := new(custodian.ImportJob)
	if err := json.Unmarshal([]byte(b), j); err != nil {
		return nil, internal("get import job", err)
	}
	j.State = state
	return j, nil
}

// InterruptImportJobs marks every queued or running job interrupted.
func (s *Store) InterruptImportJobs(ctx context.Context, now time.Time) (int, error) {
	n := 0
	err := s.inTx(ctx, "interrupt import jobs", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(`UPDATE import_jobs SET state = ?, updated_us = ? WHERE state IN (?, ?)`),
			custodian.ImportInterrupted, micros(now), custodian.ImportQueued, custodian.ImportRunning)
		if err != nil {
			return err
		}
		m, err := res.RowsAffected()
		n = int(m)
		return err
	})
	return n, err
}
