package backup

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/hashchain"
	"github.com/custodian-crm/custodian/sqlstore"
)

// Errors a restore can be refused with, wrapped with the details.
var (
	// ErrNotEmpty refuses a restore over existing data without Force.
	ErrNotEmpty = errors.New("the target already holds data")
	// ErrMissingKeys reports a keyring without master keys the backup's
	// data is wrapped under.
	ErrMissingKeys = errors.New("the keyring lacks master keys the backup needs")
	// ErrChain reports a backup whose audit trail does not verify with
	// the keyring: another keyring's, or altered.
	ErrChain = errors.New("the backup's audit trail does not verify")
	// ErrShredStore reports a shred store that holds no key of any
	// customer in the backup: most likely the wrong one.
	ErrShredStore = errors.New("the shred store holds none of the backup's customers' keys")
)

// ReasonErasedAfterBackup is the tombstone reason of a customer dropped
// on restore because its shred key was destroyed after the backup was
// taken.
const ReasonErasedAfterBackup = "erased after backup"

// Keys is what a restore or a verification is given of the keyring.
type Keys struct {
	// Chain seals and verifies the audit trail (the keyring's chain key).
	Chain *hashchain.Chain
	// KeyIDs are the master key ids the keyring holds.
	KeyIDs []string
}

// check refuses a backup that needs master keys the keyring lacks,
// naming them.
func (k Keys) check(m *Manifest) error {
	var missing []string
	for _, id := range m.MasterKeyIDs {
		if !slices.Contains(k.KeyIDs, id) {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: the backup's customers are under master keys %s, which this keyring (keys %s) does not hold; give the keyring the backup was taken with (--master-key-file or CUSTODIAN_MASTER_KEY)",
			ErrMissingKeys, strings.Join(missing, ", "), strings.Join(k.KeyIDs, ", "))
	}
	return nil
}

// verifyChain verifies events, the trail of the backup m, with the
// keyring's chain, up to the manifest's head, which it must reach.
func (k Keys) verifyChain(m *Manifest, events iter.Seq2[hashchain.Event, error]) (int64, error) {
	var anchors []hashchain.Anchor
	if m.AuditHead.Seq > m.AuditArchived.Seq {
		h, err := hex.DecodeString(m.AuditHead.Hash)
		if err != nil {
			return 0, fmt.Errorf("%w: the manifest's audit head is not hexadecimal", ErrCorrupt)
		}
		anchors = append(anchors, hashchain.Anchor{Seq: m.AuditHead.Seq, Hash: h})
	}
	var from hashchain.Anchor
	if m.AuditArchived.Seq > 0 {
		h, err := hex.DecodeString(m.AuditArchived.Hash)
		if err != nil {
			return 0, fmt.Errorf("%w: the manifest's archive anchor is not hexadecimal", ErrCorrupt)
		}
		from = hashchain.Anchor{Seq: m.AuditArchived.Seq, Hash: h}
	}
	var n int64
	counted := func(yield func(hashchain.Event, error) bool) {
		for e, err := range events {
			if err == nil {
				n++
			}
			if !yield(e, err) {
				return
			}
		}
	}
	brk, err := k.Chain.VerifyFrom(from, counted, anchors...)
	if err != nil {
		return n, err
	}
	if brk != nil {
		return n, fmt.Errorf("%w at seq %d (%s): %s; either the keyring is not the one the backup was taken with, or the backup was altered", ErrChain, brk.Seq, brk.Kind, brk.Msg)
	}
	if want := max(m.AuditHead.Seq-from.Seq, 0); n != want {
		return n, fmt.Errorf("%w: %d events after seq %d where the manifest's head is at seq %d", ErrChain, n, from.Seq, m.AuditHead.Seq)
	}
	return n, nil
}

// Verified is what a verification found.
type Verified struct {
	Manifest *Manifest
	// Events is how many audit events were verified; 0 without keys.
	Events int64
}

// Verify checks the backup at p without restoring it: checksums and
// manifest, and, given keys, that the keyring holds the master keys it
// needs and that its audit trail verifies with the keyring's chain up to
// its recorded head. Work files go to a temporary directory in tmp ("":
// the system's) and are removed.
func Verify(ctx context.Context, p string, keys *Keys, tmp string, openSQLite func(ctx context.Context, dir string) (*sqlstore.Store, error)) (*Verified, error) {
	stage, err := os.MkdirTemp(tmp, ".custodian-verify-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(stage)
	m, err := Read(p, func(f File) (io.WriteCloser, error) {
		if keys == nil {
			return nil, nil
		}
		return os.OpenFile(filepath.Join(stage, f.Name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600) // #nosec G304 -- a name checked by check
	})
	if err != nil {
		return nil, err
	}
	if err := m.check(); err != nil {
		return nil, err
	}
	v := &Verified{Manifest: m}
	if keys == nil {
		return v, nil
	}
	if err := keys.check(m); err != nil {
		return v, err
	}
	switch m.Backend {
	case SQLite:
		st, err := openSQLite(ctx, stage)
		if err != nil {
			return v, err
		}
		defer st.Close()
		v.Events, err = keys.verifyChain(m, st.AuditChain(ctx, m.AuditArchived.Seq))
		return v, err
	default:
		v.Events, err = keys.verifyChain(m, rowsChain(m, stage))
		return v, err
	}
}

// check refuses a manifest whose entries could not be restored safely.
func (m *Manifest) check() error {
	switch m.Backend {
	case SQLite:
		if len(m.Files) == 0 || m.Files[0].Name != DatabaseFile {
			return fmt.Errorf("%w: a SQLite backup must start with %s", ErrCorrupt, DatabaseFile)
		}
	case Postgres:
		if len(m.Files) != len(m.Tables) {
			return fmt.Errorf("%w: %d tables but %d files", ErrCorrupt, len(m.Tables), len(m.Files))
		}
		for i, t := range m.Tables {
			if m.Files[i].Name != t.Name+".rows" || len(t.Columns) == 0 {
				return fmt.Errorf("%w: table %s has no file of its own", ErrCorrupt, t.Name)
			}
		}
	default:
		return fmt.Errorf("%w: unknown backend %q", ErrUnsupported, m.Backend)
	}
	for _, f := range m.Files {
		if f.Name != filepath.Base(f.Name) || strings.HasPrefix(f.Name, ".") {
			return fmt.Errorf("%w: entry name %q", ErrCorrupt, f.Name)
		}
	}
	return nil
}

// rowsChain yields the audit events of a row-by-row backup extracted to
// dir.
func rowsChain(m *Manifest, dir string) iter.Seq2[hashchain.Event, error] {
	return func(yield func(hashchain.Event, error) bool) {
		i := slices.IndexFunc(m.Tables, func(t sqlstore.Table) bool { return t.Name == "audit_events" })
		if i < 0 {
			return
		}
		t := m.Tables[i]
		f, err := os.Open(filepath.Join(dir, t.Name+".rows"))
		if err != nil {
			yield(hashchain.Event{}, err)
			return
		}
		defer f.Close()
		r := newRowReader(t.Name, f, len(t.Columns))
		for {
			vals, err := r.next()
			if err != nil {
				yield(hashchain.Event{}, err)
				return
			}
			if vals == nil {
				return
			}
			e, err := sqlstore.AuditEventOf(t.Columns, vals)
			if !yield(e, err) || err != nil {
				return
			}
		}
	}
}

// Target is where a backup is restored.
type Target struct {
	// Backend is SQLite or Postgres; the backup's must match.
	Backend string
	// Dir is SQLite's data directory, which receives custodian.db.
	Dir string
	// Files are the names of the files of a SQLite database in Dir
	// (custodian.db first, then its companions such as the read log):
	// a restore replaces every one of them, so that none of the data it
	// replaces stays beside the restored database.
	Files []string
	// OpenSQLite opens the SQLite store in a directory, its trail sealed
	// with the keyring's chain, without migrating it.
	OpenSQLite func(ctx context.Context, dir string) (*sqlstore.Store, error)
	// Store is the PostgreSQL store to load into, opened and not
	// migrated.
	Store *sqlstore.Store
	// LatestSchema is the newest schema version this program knows.
	LatestSchema int64
	// Shred is the current shred key store: a customer without a key in
	// it was erased after the backup and is dropped.
	Shred custodian.ShredKeyStore
	// Shreddable reports whether a customer's data key needs a shred
	// secret (crypto.Sealer.Shreddable): customers created before shred
	// secrets existed have none and are kept.
	Shreddable func(customerID, keyID string, wrapped []byte) (bool, error)
	// Keys are the keyring's.
	Keys Keys
	// Force restores over existing data.
	Force bool
	// Progress, when set, is told how far the restore is.
	Progress func(Progress)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Restored is what a restore did.
type Restored struct {
	Manifest *Manifest
	// Dropped are the customers erased since the backup was taken,
	// whose rows were dropped and replaced by a tombstone.
	Dropped []string
	// Customers is how many customers the restored database holds.
	Customers int64
	// SchemaVersion is the restored database's, after migrating.
	SchemaVersion int64
	Elapsed       time.Duration
}

// Restore restores the backup at p into t. It checks everything before it
// writes: the file's checksums, that the backup is of t's backend and of
// a schema this program knows, that the keyring holds the master keys it
// needs, that its audit trail verifies with the keyring, and that the
// target holds no data (unless t.Force). Then, all or nothing, it loads
// the data, drops the customers whose shred key is gone (erased after the
// backup: a tombstone remains), records the restore on the trail and
// migrates to the current schema.
func Restore(ctx context.Context, p string, t Target) (*Restored, error) {
	began := time.Now()
	now := time.Now
	if t.Now != nil {
		now = t.Now
	}
	report := func(what, unit string, done, total int64) {
		if t.Progress != nil {
			t.Progress(Progress{What: what, Unit: unit, Done: done, Total: total, Elapsed: time.Since(began)})
		}
	}
	stageParent := ""
	if t.Backend == SQLite {
		// Beside the database, so that it is moved into place by a
		// rename.
		if err := os.MkdirAll(t.Dir, 0o700); err != nil {
			return nil, err
		}
		stageParent = t.Dir
	}
	stage, err := os.MkdirTemp(stageParent, ".custodian-restore-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(stage)

	report("restore", "checking the backup", 0, 1)
	m, err := Read(p, func(f File) (io.WriteCloser, error) {
		if f.Name != filepath.Base(f.Name) {
			return nil, fmt.Errorf("%w: entry name %q", ErrCorrupt, f.Name)
		}
		return os.OpenFile(filepath.Join(stage, f.Name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600) // #nosec G304 -- a plain name in the staging directory
	})
	if err != nil {
		return nil, err
	}
	if err := m.check(); err != nil {
		return nil, err
	}
	if m.Backend != t.Backend {
		return nil, fmt.Errorf("%w: it is a %s backup and the target is %s", ErrUnsupported, m.Backend, t.Backend)
	}
	if m.SchemaVersion > t.LatestSchema {
		return nil, fmt.Errorf("%w: its schema version %d is newer than this program's (%d); restore it with a newer custodian", ErrUnsupported, m.SchemaVersion, t.LatestSchema)
	}
	if err := t.Keys.check(m); err != nil {
		return nil, err
	}
	res := &Restored{Manifest: m}
	if t.Backend == SQLite {
		err = restoreSQLite(ctx, t, m, stage, now, res)
	} else {
		err = restorePostgres(ctx, t, m, stage, now, res, report)
	}
	if err != nil {
		return nil, err
	}
	res.Elapsed = time.Since(began)
	return res, nil
}

// restoreSQLite restores the database file extracted to stage: checked,
// pruned and migrated there, then renamed into the data directory.
func restoreSQLite(ctx context.Context, t Target, m *Manifest, stage string, now func() time.Time, res *Restored) error {
	live := filepath.Join(t.Dir, DatabaseFile)
	if _, err := os.Stat(live); err == nil {
		if err := refuseNonEmpty(ctx, t, func() (*sqlstore.Store, error) { return t.OpenSQLite(ctx, t.Dir) }); err != nil {
			return err
		}
	}
	st, err := t.OpenSQLite(ctx, stage)
	if err != nil {
		return err
	}
	err = st.InTx(ctx, func(ctx context.Context) error {
		if _, err := t.Keys.verifyChain(m, st.AuditChain(ctx, m.AuditArchived.Seq)); err != nil {
			return err
		}
		return finish(ctx, st, t, m, now, res)
	})
	if err == nil {
		res.SchemaVersion, err = st.Migrate(ctx)
	}
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	// The database last: until it is in place, the directory holds no
	// restored database.
	files := slices.Clone(t.Files)
	if !slices.Contains(files, DatabaseFile) {
		files = append(files, DatabaseFile)
	}
	slices.SortStableFunc(files, func(a, b string) int {
		switch {
		case a == DatabaseFile:
			return 1
		case b == DatabaseFile:
			return -1
		}
		return 0
	})
	for _, name := range files {
		for _, suffix := range []string{"-wal", "-shm", ""} {
			if err := os.Remove(filepath.Join(t.Dir, name+suffix)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
		if err := os.Rename(filepath.Join(stage, name), filepath.Join(t.Dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return syncDir(t.Dir)
}

// refuseNonEmpty refuses a target that holds data, unless t.Force.
func refuseNonEmpty(ctx context.Context, t Target, open func() (*sqlstore.Store, error)) error {
	if t.Force {
		return nil
	}
	st, err := open()
	if err != nil {
		return err
	}
	if t.Store == nil {
		defer st.Close()
	}
	if v, err := st.SchemaVersionAt(ctx); err != nil || v == 0 {
		return err
	}
	empty, err := st.Empty(ctx)
	if err != nil {
		return err
	}
	if !empty {
		return fmt.Errorf("%w: restore into an empty data directory or database, or give --force to replace what is there", ErrNotEmpty)
	}
	return nil
}

// restorePostgres loads the rows extracted to stage into t.Store, in one
// transaction, after verifying their audit trail.
func restorePostgres(ctx context.Context, t Target, m *Manifest, stage string, now func() time.Time, res *Restored, report func(what, unit string, done, total int64)) error {
	st := t.Store
	if err := refuseNonEmpty(ctx, t, func() (*sqlstore.Store, error) { return st, nil }); err != nil {
		return err
	}
	if _, err := t.Keys.verifyChain(m, rowsChain(m, stage)); err != nil {
		return err
	}
	cur, err := st.SchemaVersionAt(ctx)
	if err != nil {
		return err
	}
	if cur > m.SchemaVersion {
		return fmt.Errorf("%w: the database is at schema version %d, newer than the backup's %d: restore into an empty database", ErrUnsupported, cur, m.SchemaVersion)
	}
	if _, err := st.MigrateTo(ctx, m.SchemaVersion); err != nil {
		return err
	}
	var total, done int64
	for _, tb := range m.Tables {
		total += m.Counts[tb.Name]
	}
	err = st.InTx(ctx, func(ctx context.Context) error {
		tables, err := st.Tables(ctx)
		if err != nil {
			return err
		}
		if err := st.ClearTables(ctx, tables); err != nil {
			return err
		}
		for _, tb := range m.Tables {
			if err := loadTable(ctx, st, tb, filepath.Join(stage, tb.Name+".rows"), func() { done++; report("restore", "rows loaded", done, total) }); err != nil {
				return err
			}
		}
		if err := st.ResetIdentities(ctx); err != nil {
			return err
		}
		return finish(ctx, st, t, m, now, res)
	})
	if err != nil {
		return err
	}
	res.SchemaVersion, err = st.Migrate(ctx)
	return err
}

// loadTable loads one table file.
func loadTable(ctx context.Context, st *sqlstore.Store, tb sqlstore.Table, p string, row func()) error {
	f, err := os.Open(p) // #nosec G304 -- a file in the staging directory
	if err != nil {
		return err
	}
	defer f.Close()
	r := newRowReader(tb.Name, f, len(tb.Columns))
	_, err = st.LoadRows(ctx, tb, func() ([]any, error) {
		v, err := r.next()
		if v != nil {
			row()
		}
		return v, err
	})
	if err != nil {
		return fmt.Errorf("restore %s: %w", tb.Name, err)
	}
	return nil
}

// finish, inside the restore's transaction, drops the customers whose
// shred key is gone and records the restore on the trail.
func finish(ctx context.Context, st *sqlstore.Store, t Target, m *Manifest, now func() time.Time, res *Restored) error {
	var after string
	var kept, withSecret int64
	for {
		page, err := st.CustomerKeys(ctx, after, 1000)
		if err != nil {
			return err
		}
		if len(page) == 0 {
			break
		}
		after = page[len(page)-1].CustomerID
		ids := make([]string, len(page))
		for i, k := range page {
			ids[i] = k.CustomerID
		}
		secrets, err := t.Shred.ShredKeys(ctx, ids)
		if err != nil {
			return err
		}
		for _, k := range page {
			if _, ok := secrets[k.CustomerID]; ok {
				kept++
				withSecret++
				continue
			}
			shreddable, err := t.Shreddable(k.CustomerID, k.KeyID, k.Wrapped)
			if err != nil {
				return fmt.Errorf("%w: %v", ErrMissingKeys, err)
			}
			if shreddable {
				res.Dropped = append(res.Dropped, k.CustomerID)
			} else {
				kept++ // from before shred secrets: nothing to destroy
			}
		}
	}
	if withSecret == 0 && len(res.Dropped) > 0 {
		return fmt.Errorf("%w: none of its %d customers has a key in it; give the shred store the server uses (--shred-store), or the restore would drop every customer", ErrShredStore, len(res.Dropped))
	}
	at := now()
	for _, id := range res.Dropped {
		err := st.Audited(ctx, func(ctx context.Context) ([]custodian.AuditEntry, error) {
			tomb := &custodian.Tombstone{ID: id, ErasedAt: at, ErasedBy: custodian.ActorFrom(ctx), Reason: ReasonErasedAfterBackup, Mechanism: custodian.ErasedOnRequest, KeyDestroyed: true}
			if _, err := st.EraseCustomer(ctx, tomb, func(*custodian.CustomerRecord) error { return nil }); err != nil {
				return nil, err
			}
			data := custodian.AccessData{Reason: ReasonErasedAfterBackup, Mechanism: custodian.ErasedOnRequest}.Encode()
			return []custodian.AuditEntry{{Action: custodian.ActionCustomerErase, Subject: id, Data: data, Time: at}}, nil
		})
		if err != nil {
			return fmt.Errorf("drop customer %s erased after the backup: %w", id, err)
		}
	}
	res.Customers = kept
	data, _ := json.Marshal(struct {
		TakenAt   time.Time `json:"taken_at"`
		AuditHead int64     `json:"audit_head_seq"`
		Customers int64     `json:"customers"`
		Dropped   int       `json:"dropped"`
	}{m.CreatedAt, m.AuditHead.Seq, kept, len(res.Dropped)})
	return st.AppendAudit(ctx, custodian.AuditEntry{Action: custodian.ActionBackupRestored, Data: data, Time: at})
}
