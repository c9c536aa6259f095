// Package sqlbackend is what the SQL backends, sqlite and postgres, do
// alike to open a store: read their embedded migrations, and build the
// store over their connections once the database answers.
package sqlbackend

import (
	"context"
	"embed"
	"io/fs"

	"github.com/custodian-crm/custodian/sqlstore"
)

// Migrations returns the "migrations" directory of files, where a backend
// embeds its schema migrations.
func Migrations(files embed.FS) fs.FS {
	sub, err := fs.Sub(files, "migrations")
	if err != nil {
		panic(err) // the embedded directory always exists
	}
	return sub
}

// Open returns a store over db (see sqlstore.New) after checking that the
// database answers. On error it closes all of db: its pools, then its
// closers.
func Open(ctx context.Context, d sqlstore.Dialect, db sqlstore.Database, o sqlstore.Options) (*sqlstore.Store, error) {
	s, err := sqlstore.New(d, db, o)
	if err != nil {
		db.Write.Close()
		if db.Read != nil {
			db.Read.Close()
		}
		if db.ReadLog != nil {
			db.ReadLog.Close()
		}
		if db.Replica != nil {
			db.Replica.Close()
		}
		for _, c := range db.Closers {
			c()
		}
		return nil, err
	}
	if err := s.Ping(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.PrepareReadLog(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}
