package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/backup"
	"github.com/custodian-crm/custodian/crypto"
	"github.com/custodian-crm/custodian/postgres"
	"github.com/custodian-crm/custodian/sqlite"
	"github.com/custodian-crm/custodian/sqlstore"
)

// backupPrefix and backupSuffix frame the names of the backups serve
// takes on schedule (and the default name of "custodian backup"); the
// time in between sorts them oldest first.
const (
	backupPrefix = "custodian-"
	backupSuffix = ".tar.gz"
)

// backupFileName is the name of a backup taken at t.
func backupFileName(t time.Time) string {
	return backupPrefix + t.UTC().Format("20060102T150405.000Z") + backupSuffix
}

// backupOptions are how the configured database is backed up: SQLite by a
// consistent copy of its file, PostgreSQL row by row in one snapshot
// transaction.
func (c *storageConfig) backupOptions() backup.Options {
	if c.backend() == "postgres" {
		return backup.Options{Backend: backup.Postgres}
	}
	dataDir := *c.dataDir
	return backup.Options{Backend: backup.SQLite, SnapshotFiles: func(ctx context.Context, dir string) (*sqlstore.Store, []string, error) {
		names, err := sqlite.Snapshot(ctx, dataDir, dir)
		if err != nil {
			return nil, nil, err
		}
		st, err := sqlite.Open(ctx, dir, sqlstore.Options{WithoutAuditChain: true})
		return st, names, err
	}}
}

// runBackup takes a backup ("backup [--out FILE]") or checks one ("backup
// verify FILE").
func runBackup(ctx context.Context, proc *process, args []string) error {
	if len(args) > 0 && args[0] == "verify" {
		return runBackupVerify(ctx, proc, args[1:])
	}
	stdout, stderr := proc.stdout, proc.stderr
	fs := newFlagSet("backup", stderr)
	flags := addKeyCommandFlags(fs)
	out := fs.String("out", "", "the backup file to write (default "+backupPrefix+"<time>"+backupSuffix+" in the current directory); never overwritten")
	return flags.run(ctx, proc, fs, args, func(a *app) error {
		if *out == "" {
			*out = backupFileName(time.Now())
		}
		o := flags.storage.backupOptions()
		bar := newProgress(stderr)
		o.Progress = func(p backup.Progress) { bar.updateCount(p.What, p.Unit, p.Done, p.Total, p.Elapsed) }
		res, err := backup.Create(ctx, a.store, *out, o)
		bar.finish()
		if err != nil {
			return err
		}
		m := res.Manifest
		fmt.Fprintf(stdout, "wrote %s: %d bytes, %d customers, %d audit events (head %d), schema version %d, in %v\n",
			res.Path, res.Size, m.Customers(), m.Counts["audit_events"], m.AuditHead.Seq, m.SchemaVersion, res.Elapsed.Round(time.Millisecond))
		fmt.Fprintln(stdout, "It holds ciphertext only: restoring it needs the keyring, and customers are readable only while their shred keys exist.")
		return nil
	})
}

// runBackupVerify checks a backup without restoring it: its checksums and
// manifest always; with the keyring, that it holds the master keys the
// backup needs and that the backup's audit trail verifies.
func runBackupVerify(ctx context.Context, proc *process, args []string) error {
	stdout := proc.stdout
	fs := newFlagSet("backup verify", proc.stderr)
	flags := addAppFlags(fs)
	file, help, err := parseFileArg(fs, flags, args, proc.getenv, "usage: custodian backup verify [flags] FILE")
	if help || err != nil {
		return err
	}
	var keys *backup.Keys
	k, err := loadKeyring(flags.keys, *flags.storage.dataDir, false, false)
	switch {
	case errors.Is(err, crypto.ErrNoKeyring):
		fmt.Fprintln(stdout, "no keyring configured: checking the file's integrity only, not its audit trail (give --master-key-file to check it too)")
	case err != nil:
		return err
	default:
		chainKeys, err := backupKeys(k)
		if err != nil {
			return err
		}
		keys = &chainKeys
	}
	v, err := backup.Verify(ctx, file, keys, "", openSQLiteFor(nil))
	if err != nil {
		return err
	}
	m := v.Manifest
	fmt.Fprintf(stdout, "%s: a %s backup taken %s, schema version %d: %d customers, %d tombstones, %d audit events; checksums match\n",
		file, m.Backend, m.CreatedAt.Format(time.RFC3339), m.SchemaVersion, m.Customers(), m.Counts["customer_tombstones"], m.Counts["audit_events"])
	if keys != nil {
		fmt.Fprintf(stdout, "the keyring holds its master keys (%s) and its audit trail verifies: %d events up to seq %d (%s)\n",
			strings.Join(m.MasterKeyIDs, ", "), v.Events, m.AuditHead.Seq, m.AuditHead.Hash)
	}
	return nil
}

// parseFileArg parses a command that takes one file after or before its
// flags.
func parseFileArg(fs *flag.FlagSet, flags *appFlags, args []string, getenv func(string) string, usage string) (string, bool, error) {
	var file string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		file, args = args[0], args[1:]
	}
	rest, help, err := parseConfigArgs(fs, args, getenv, true)
	if help || err != nil {
		return "", help, err
	}
	if err := flags.resolve(getenv); err != nil {
		return "", false, err
	}
	if file == "" && len(rest) > 0 {
		file, rest = rest[0], rest[1:]
	}
	if file == "" || len(rest) > 0 {
		return "", false, errors.New(usage)
	}
	return file, false, nil
}

// backupKeys are what backups need of the keyring: its audit chain and
// its master key ids.
func backupKeys(k *loadedKeyring) (backup.Keys, error) {
	chain, err := newAuditChain(k.keyring)
	if err != nil {
		return backup.Keys{}, err
	}
	return backup.Keys{Chain: chain, KeyIDs: k.keyring.KeyIDs()}, nil
}

// openSQLiteFor opens SQLite stores in a directory, unmigrated, sealed
// with a's audit chain (or never appended to, for a nil app).
func openSQLiteFor(a *app) func(ctx context.Context, dir string) (*sqlstore.Store, error) {
	return func(ctx context.Context, dir string) (*sqlstore.Store, error) {
		o := sqlstore.Options{WithoutAuditChain: true}
		if a != nil {
			o = sqlstore.Options{AuditChain: a.chain}
		}
		return sqlite.Open(ctx, dir, o)
	}
}

// latestSchema is the newest schema version of the embedded migrations.
func latestSchema(migrations fs.FS) (int64, error) {
	entries, err := fs.ReadDir(migrations, ".")
	if err != nil {
		return 0, err
	}
	var latest int64
	for _, e := range entries {
		num, _, _ := strings.Cut(e.Name(), "_")
		if v, err := strconv.ParseInt(num, 10, 64); err == nil {
			latest = max(latest, v)
		}
	}
	return latest, nil
}

// errServerRunning refuses a restore into a database a server uses.
var errServerRunning = errors.New("a server is running on this database")

// runRestore restores a backup into an empty data directory or database
// (over existing data with --force, but never while a server holds the
// directory), keeping erasure: customers whose shred key is gone are
// dropped and keep a tombstone.
func runRestore(ctx context.Context, proc *process, args []string) error {
	stdout, stderr := proc.stdout, proc.stderr
	fs := newFlagSet("restore", stderr)
	flags := addKeyCommandFlags(fs)
	force := fs.Bool("force", false, "replace the data that is there (never while a server runs on the data directory)")
	file, help, err := parseFileArg(fs, flags, args, proc.getenv, "usage: custodian restore [--force] [flags] FILE")
	if help || err != nil {
		return err
	}
	if _, err := os.Stat(file); err != nil { // #nosec G703 -- the operator names the backup file on the command line
		return err
	}
	st := flags.storage
	// Restore holds the data as serve does: with SQLite the data
	// directory's lock (no server runs on it, none starts meanwhile), with
	// PostgreSQL the job lease, which a running server would hold.
	return withApp(ctx, flags.config(), func(a *app) error {
		if a.lease != nil && !a.lease.Held() {
			return fmt.Errorf("%w: another instance holds its job lease; stop every server on it before restoring", errServerRunning)
		}
		keys, err := backupKeys(a.keyring)
		if err != nil {
			return err
		}
		bar := newProgress(stderr)
		t := backup.Target{Shred: a.shred, Shreddable: a.sealer.Shreddable, Keys: keys, Force: *force,
			Progress: func(p backup.Progress) { bar.updateCount(p.What, p.Unit, p.Done, p.Total, p.Elapsed) }}
		if st.backend() == "postgres" {
			t.Backend = backup.Postgres
			if t.LatestSchema, err = latestSchema(postgres.Migrations()); err != nil {
				return err
			}
			if t.Store, err = postgres.Open(ctx, *st.databaseURL, sqlstore.Options{AuditChain: a.chain}); err != nil {
				return err
			}
			defer t.Store.Close()
		} else {
			t.Backend, t.Dir, t.OpenSQLite = backup.SQLite, *st.dataDir, openSQLiteFor(a)
			t.Files = []string{sqlite.FileName, sqlite.ReadLogFileName}
			if t.LatestSchema, err = latestSchema(sqlite.Migrations()); err != nil {
				return err
			}
		}
		res, err := backup.Restore(ctx, file, t)
		bar.finish()
		if err != nil {
			return err
		}
		m := res.Manifest
		fmt.Fprintf(stdout, "restored the backup taken %s: %d customers, audit trail verified up to seq %d, schema version %d, in %v\n",
			m.CreatedAt.Format(time.RFC3339), res.Customers, m.AuditHead.Seq, res.SchemaVersion, res.Elapsed.Round(time.Millisecond))
		fmt.Fprintf(stdout, "dropped %d customers erased after the backup was taken (their shred keys are gone); their tombstones are kept\n", len(res.Dropped))
		return nil
	}, forRestore, holdDataDir)
}

// startBackups takes a backup into --backup-dir at start and then every
// --backup-interval, on the instance holding the job lease, until ctx
// ends or the returned function is called, keeping the newest
// --backup-keep; each is recorded on the audit trail. Without
// --backup-dir it does nothing.
func startBackups(ctx context.Context, s *serveSettings, a *app, logger *slog.Logger) func() {
	b := s.backups
	if *b.dir == "" {
		return func() {}
	}
	ctx = custodian.WithActor(ctx, custodian.ActorBackup)
	logger.Info("scheduled backups on", "dir", *b.dir, "interval", b.interval.String(), "keep", *b.keep)
	return startJob(ctx, "backup", *b.interval, a.lease, logger, func(ctx context.Context) {
		res, err := backup.Create(ctx, a.store, filepath.Join(*b.dir, backupFileName(time.Now())), s.storage.backupOptions())
		if err != nil {
			if ctx.Err() == nil {
				logger.Error("scheduled backup failed", "err", err)
			}
			return
		}
		logger.Info("backup taken", "file", res.Path, "bytes", res.Size, "customers", res.Manifest.Customers(),
			"audit_head", res.Manifest.AuditHead.Seq, "elapsed", res.Elapsed.Round(time.Millisecond).String())
		removed, err := backup.Rotate(*b.dir, backupPrefix, backupSuffix, *b.keep)
		if err != nil {
			logger.Error("removing old backups failed", "err", err)
		}
		for _, r := range removed {
			logger.Info("old backup removed", "file", r)
		}
	})
}

// backupFlags are serve's scheduled-backup flags.
type backupFlags struct {
	dir      *string
	interval *time.Duration
	keep     *int
}

// addBackupFlags defines them on fs.
func addBackupFlags(fs *flag.FlagSet) *backupFlags {
	return &backupFlags{
		dir:      stringFlag(fs, "backup-dir", "", "take backups into this directory on schedule; off when empty. Keep it off the data directory's disk, or copy its files elsewhere"),
		interval: fs.Duration("backup-interval", 24*time.Hour, "how often serve takes a backup into --backup-dir (env CUSTODIAN_BACKUP_INTERVAL)"),
		keep:     fs.Int("backup-keep", 7, "how many backups in --backup-dir to keep; older ones are deleted (env CUSTODIAN_BACKUP_KEEP)"),
	}
}

// resolve checks them.
func (b *backupFlags) resolve() error {
	if *b.dir == "" {
		return nil
	}
	if *b.interval < time.Second {
		return fmt.Errorf("%w: --backup-interval must be at least 1s", ErrConfig)
	}
	if *b.keep < 1 {
		return fmt.Errorf("%w: --backup-keep must be at least 1", ErrConfig)
	}
	return nil
}
