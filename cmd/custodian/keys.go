package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/custodian-crm/custodian/sqlstore"

	"github.com/custodian-crm/custodian/crypto"
	"github.com/custodian-crm/custodian/rotation"
)

const keysUsage = `Usage: custodian keys <command> [flags]

Commands:
  status          list the master keys and how many customers each protects
  rotate          add a new master key and re-wrap every data key under it
  retire KEYID    remove a master key that no customer uses any more

The keyring comes from CUSTODIAN_MASTER_KEY, CUSTODIAN_MASTER_KEY_FILE or the
development keyring in --data-dir, as for serve; rotate and retire rewrite a
keyring file in place (atomically, mode 0600). Run "custodian keys <command> -h"
for a command's flags.
`

// runKeys dispatches the key management commands.
func runKeys(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, keysUsage)
		return errors.New("keys: no command given")
	}
	switch args[0] {
	case "status":
		return runKeysStatus(ctx, args[1:], getenv, stdout, stderr)
	case "rotate":
		return runKeysRotate(ctx, args[1:], getenv, stdout, stderr)
	case "retire":
		return runKeysRetire(ctx, args[1:], getenv, stdout, stderr)
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, keysUsage)
		return nil
	}
	fmt.Fprint(stderr, keysUsage)
	return fmt.Errorf("keys: unknown command %q", args[0])
}

// keyringSetup is a keyring loaded for a command, and where it lives.
type keyringSetup struct {
	keyring *crypto.Keyring
	source  crypto.KeySource
	path    string // the file it was read from; empty for the environment
}

// loadKeyring reads the configured keyring as serve does, except that it
// never generates one: a key command on a data directory without a keyring
// is a mistake.
func loadKeyring(getenv func(string) string, dataDir string, production bool) (*keyringSetup, error) {
	o := crypto.LoadOptions{Env: getenv("CUSTODIAN_MASTER_KEY"), File: getenv("CUSTODIAN_MASTER_KEY_FILE"), DataDir: dataDir, Production: production}
	if o.Env == "" && o.File == "" && !production {
		path := filepath.Join(dataDir, crypto.DevKeyringName)
		k, err := crypto.ReadKeyringFile(path, false)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("keyring: none configured and no development keyring at %s (set CUSTODIAN_MASTER_KEY_FILE, or --data-dir): %w", path, crypto.ErrNoKeyring)
		}
		if err != nil {
			return nil, fmt.Errorf("keyring: %w", err)
		}
		return &keyringSetup{keyring: k, source: crypto.SourceDataDir, path: path}, nil
	}
	k, src, path, err := crypto.LoadKeyring(o)
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	return &keyringSetup{keyring: k, source: src, path: path}, nil
}

// keyringSource is the sealer's keyring source for a keyring k just
// loaded from source and path: its first call returns k itself, so that
// start-up reads the keyring once; later calls, reloads, reread the same
// file (never generating one). A keyring from the environment cannot
// change while the process runs, so it is k for good.
func keyringSource(k *crypto.Keyring, source crypto.KeySource, path string, production bool) func() (*crypto.Keyring, error) {
	if path == "" {
		return func() (*crypto.Keyring, error) { return k, nil }
	}
	first := k
	return func() (*crypto.Keyring, error) {
		// The first call is the sealer's constructor, before any reload
		// can run concurrently.
		if k := first; k != nil {
			first = nil
			return k, nil
		}
		return crypto.ReadKeyringFile(path, production && source != crypto.SourceGenerated)
	}
}

// keyFlags are the settings every key command shares.
type keyFlags struct {
	storage    *storageConfig
	production *bool
}

func addKeyFlags(fs *flag.FlagSet, storage *storageConfig, getenv func(string) string) *keyFlags {
	return &keyFlags{storage: storage, production: fs.Bool("production", getenv("CUSTODIAN_ENV") == "production", "refuse insecure settings such as a development keyring (env CUSTODIAN_ENV=production)")}
}

func runKeysStatus(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("keys status", stderr)
	kf := addKeyFlags(fs, addStorageFlags(fs), getenv)
	if help, err := parseConfig(fs, args, getenv); help || err != nil {
		return err
	}
	if err := kf.storage.resolve(); err != nil {
		return err
	}
	setup, err := loadKeyring(getenv, *kf.storage.dataDir, *kf.production)
	if err != nil {
		return err
	}
	store, usage, err := openWithUsage(ctx, kf.storage, setup.keyring)
	if err != nil {
		return err
	}
	defer store.Close()
	k := setup.keyring
	fmt.Fprintf(stdout, "keyring: %s\n", keyringPlace(setup))
	fmt.Fprintf(stdout, "%-28s %-8s %s\n", "MASTER KEY", "STATE", "CUSTOMERS")
	for _, id := range k.KeyIDs() {
		state := "unused"
		if id == k.ActiveKeyID() {
			state = "active"
		} else if usage[id] > 0 {
			state = "old"
		}
		fmt.Fprintf(stdout, "%-28s %-8s %d\n", id, state, usage[id])
	}
	var missing []string
	var lost int64
	for _, id := range slices.Sorted(maps.Keys(usage)) {
		if !slices.Contains(k.KeyIDs(), id) {
			missing = append(missing, id)
			lost += usage[id]
			fmt.Fprintf(stdout, "%-28s %-8s %d\n", id, "MISSING", usage[id])
		}
	}
	if len(missing) > 0 {
		fmt.Fprintf(stderr, "WARNING: %d customer records are under master keys that are not in this keyring (%s): they cannot be read or re-wrapped. Restore the keys from a backup of the keyring.\n", lost, strings.Join(missing, ", "))
		return fmt.Errorf("%d customer records under master keys missing from the keyring", lost)
	}
	if old := oldKeyRecords(usage, k.ActiveKeyID()); old > 0 {
		fmt.Fprintf(stdout, "%d customers are under older master keys: run \"custodian keys rotate\" to re-wrap them.\n", old)
	}
	return nil
}

// keyringPlace says where a keyring lives, for messages.
func keyringPlace(s *keyringSetup) string {
	if s.path == "" {
		return "CUSTODIAN_MASTER_KEY (environment)"
	}
	return s.path
}

// oldKeyRecords counts the customers under keys other than active.
func oldKeyRecords(usage map[string]int64, active string) int64 {
	var n int64
	for id, c := range usage {
		if id != active {
			n += c
		}
	}
	return n
}

func runKeysRotate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("keys rotate", stderr)
	kf := addKeyFlags(fs, addStorageFlags(fs), getenv)
	out := fs.String("keyring-out", "", "write the keyring with its new master key to this file and stop, without re-wrapping: for a keyring given in CUSTODIAN_MASTER_KEY, which cannot be rewritten")
	rewrapOnly := fs.Bool("rewrap-only", false, "add no master key: re-wrap every data key under the keyring's active key")
	batch := fs.Int("batch", rotation.DefaultBatch, "data keys re-wrapped per transaction")
	if help, err := parseConfig(fs, args, getenv); help || err != nil {
		return err
	}
	if err := kf.storage.resolve(); err != nil {
		return err
	}
	if *batch <= 0 {
		return errors.New("--batch must be positive")
	}
	if *out != "" && *rewrapOnly {
		return errors.New("--keyring-out writes a keyring with a new key; it cannot be combined with --rewrap-only")
	}
	setup, err := loadKeyring(getenv, *kf.storage.dataDir, *kf.production)
	if err != nil {
		return err
	}
	k := setup.keyring
	if *out == "" && setup.path == "" && !*rewrapOnly {
		return errors.New("the keyring comes from CUSTODIAN_MASTER_KEY, which this command cannot rewrite. " +
			"Either write a keyring with a new master key with --keyring-out FILE, install it on every server " +
			"(CUSTODIAN_MASTER_KEY or CUSTODIAN_MASTER_KEY_FILE) and restart them, then run \"custodian keys rotate --rewrap-only\" with it; " +
			"or supply a keyring whose active key is already new and run with --rewrap-only")
	}
	store, usage, err := openWithUsage(ctx, kf.storage, setup.keyring)
	if err != nil {
		return err
	}
	defer store.Close()

	switch stale := oldKeyRecords(usage, k.ActiveKeyID()); {
	case *rewrapOnly:
		fmt.Fprintf(stdout, "re-wrapping %d data keys under the active master key %s\n", stale, k.ActiveKeyID())
	case stale > 0 && *out == "":
		// An unfinished rotation: finish it rather than add another key.
		fmt.Fprintf(stdout, "resuming: %d data keys are under older master keys; re-wrapping them under the active key %s (no new key added)\n", stale, k.ActiveKeyID())
	default:
		id := k.AddMasterKey()
		dest := setup.path
		if *out != "" {
			dest = *out
		}
		if err := crypto.WriteKeyringFile(dest, k); err != nil {
			return err
		}
		if dest != setup.path {
			fmt.Fprintf(stdout, "wrote a keyring with the new active master key %s to %s.\n"+
				"No data key was re-wrapped: servers could not read keys wrapped under %s before they have this keyring.\n"+
				"Install it on every server (CUSTODIAN_MASTER_KEY_FILE=%s, or its content in CUSTODIAN_MASTER_KEY), restart them,\n"+
				"then run \"custodian keys rotate --rewrap-only\" with it.\n", id, dest, id, dest)
			return nil
		}
		fmt.Fprintf(stdout, "added master key %s to %s; it is now active (servers load it on SIGHUP, on their first record under it, or within %v)\n", id, dest, crypto.RefreshInterval)
	}

	sealer, err := crypto.NewSealer(k, 1)
	if err != nil {
		return err
	}
	bar := newProgress(stderr)
	res, err := rotation.Rewrap(ctx, store, sealer, rotation.Options{Batch: *batch, OnBatch: bar.update})
	bar.finish()
	fmt.Fprintf(stdout, "re-wrapped %d data keys under %s in %v (%.0f per second)\n", res.Rewrapped, res.ActiveKeyID, res.Elapsed.Round(time.Millisecond), res.Rate())
	if res.Usage != nil {
		fmt.Fprintf(stdout, "master keys in use: %s\n", describeUsage(res.Usage, res.ActiveKeyID))
	}
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(stdout, "interrupted: every batch either committed or rolled back; run \"custodian keys rotate\" again to continue.")
		}
		return err
	}
	if old := oldKeyRecords(res.Usage, res.ActiveKeyID); old > 0 {
		fmt.Fprintf(stdout, "%d customers were created under an older key since; run \"custodian keys rotate\" again.\n", old)
		return nil
	}
	fmt.Fprintln(stdout, "every customer is under the active key; older keys can be retired with \"custodian keys retire KEYID\" once every server has reloaded its keyring.")
	return nil
}

// describeUsage lists master keys and their customer counts, active first.
func describeUsage(usage map[string]int64, active string) string {
	if len(usage) == 0 {
		return "none (no customers)"
	}
	ids := slices.Sorted(maps.Keys(usage))
	slices.SortStableFunc(ids, func(a, b string) int {
		switch {
		case a == active:
			return -1
		case b == active:
			return 1
		}
		return 0
	})
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = fmt.Sprintf("%s %d", id, usage[id])
		if id == active {
			parts[i] += " (active)"
		}
	}
	return strings.Join(parts, ", ")
}

func runKeysRetire(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("keys retire", stderr)
	kf := addKeyFlags(fs, addStorageFlags(fs), getenv)
	out := fs.String("keyring-out", "", "write the keyring without the key to this file, for a keyring given in CUSTODIAN_MASTER_KEY")
	// The key id may come before or after the flags.
	var id string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		id, args = args[0], args[1:]
	}
	rest, help, err := parseConfigArgs(fs, args, getenv, true)
	if help || err != nil {
		return err
	}
	if err := kf.storage.resolve(); err != nil {
		return err
	}
	if id == "" && len(rest) > 0 {
		id, rest = rest[0], rest[1:]
	}
	if id == "" || len(rest) > 0 {
		return errors.New("usage: custodian keys retire [flags] KEYID")
	}
	setup, err := loadKeyring(getenv, *kf.storage.dataDir, *kf.production)
	if err != nil {
		return err
	}
	k := setup.keyring
	dest := setup.path
	if *out != "" {
		dest = *out
	}
	if dest == "" {
		return errors.New("the keyring comes from CUSTODIAN_MASTER_KEY, which this command cannot rewrite: give --keyring-out FILE and install that keyring instead")
	}
	if !slices.Contains(k.KeyIDs(), id) {
		return fmt.Errorf("master key %s is not in the keyring", id)
	}
	if id == k.ActiveKeyID() {
		return fmt.Errorf("master key %s is the active key and cannot be retired; rotate first", id)
	}
	store, usage, err := openWithUsage(ctx, kf.storage, setup.keyring)
	if err != nil {
		return err
	}
	defer store.Close()
	if n := usage[id]; n > 0 {
		return fmt.Errorf("master key %s still protects %d customers; run \"custodian keys rotate\" first: %w", id, n, errKeyInUse)
	}
	if err := k.RemoveMasterKey(id); err != nil {
		return err
	}
	if err := crypto.WriteKeyringFile(dest, k); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "retired master key %s from %s; no customer used it\n", id, dest)
	return nil
}

// errKeyInUse reports a master key that still protects customers.
var errKeyInUse = errors.New("master key in use")

// progress shows a long command's progress on standard error: a bar
// redrawn in place on a terminal, a plain line every few seconds
// otherwise.
type progress struct {
	w        io.Writer
	terminal bool
	last     time.Time
	drawn    bool
	latest   *progressState // the last state reported, drawn at the end
	shown    progressState  // the last state drawn
}

// progressState is one report: what runs, what it counts, how far it is.
type progressState struct {
	what, unit  string
	done, total int64
	elapsed     time.Duration
}

// newProgress returns a progress display writing to w.
func newProgress(w io.Writer) *progress {
	p := &progress{w: w}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			p.terminal = true
		}
	}
	return p
}

// update reports a rotation's progress.
func (p *progress) update(s rotation.Progress) {
	p.updateCount("rotation", "data keys re-wrapped", s.Rewrapped, s.Total, s.Elapsed)
}

// updateCount reports that done of total units of what are finished.
func (p *progress) updateCount(what, unit string, done, total int64, elapsed time.Duration) {
	s := progressState{what: what, unit: unit, done: done, total: total, elapsed: elapsed}
	p.latest = &s
	every := 2 * time.Second
	if p.terminal {
		every = 100 * time.Millisecond
	}
	if time.Since(p.last) < every {
		return
	}
	p.draw(*p.latest)
}

func (p *progress) draw(s progressState) {
	p.last, p.shown = time.Now(), s
	rate := float64(s.done) / max(s.elapsed.Seconds(), 1e-9)
	if !p.terminal {
		fmt.Fprintf(p.w, "%s: %d of %d %s (%.0f per second)\n", s.what, s.done, s.total, s.unit, rate)
		return
	}
	const width = 30
	frac := min(float64(s.done)/float64(max(s.total, 1)), 1)
	filled := int(frac * width)
	fmt.Fprintf(p.w, "\r[%s%s] %3.0f%% %d/%d %.0f/s ", strings.Repeat("#", filled), strings.Repeat(".", width-filled), frac*100, s.done, s.total, rate)
	p.drawn = true
}

// finish draws the final state of the bar (or, off a terminal, the final
// line when it was not the last one written), and ends the bar's line.
func (p *progress) finish() {
	if p.latest != nil && (p.drawn || *p.latest != p.shown) {
		p.draw(*p.latest)
	}
	if p.drawn {
		fmt.Fprintln(p.w)
	}
}

// openWithUsage opens the database with its trail sealed by k, as a
// rotation appends to it, and counts the customers each master key
// protects.
func openWithUsage(ctx context.Context, storage *storageConfig, k *crypto.Keyring) (*sqlstore.Store, map[string]int64, error) {
	store, _, err := storage.openSealed(ctx, k)
	if err != nil {
		return nil, nil, err
	}
	usage, err := store.KeyUsage(ctx)
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	return store, usage, nil
}
