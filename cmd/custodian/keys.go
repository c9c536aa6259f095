package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/crypto"
	"github.com/custodian-crm/custodian/rotation"
)

// keysCommands are the master key commands. They never generate a
// keyring: on a data directory without one they are a mistake.
func keysCommands() commandTable {
	return commandTable{
		path: "custodian keys",
		about: `The keyring comes from CUSTODIAN_MASTER_KEY, --master-key-file
(CUSTODIAN_MASTER_KEY_FILE) or the development keyring in --data-dir, as for
serve; rotate and retire rewrite a keyring file in place (atomically, mode
0600).
`,
		commands: []command{
			{name: "init", args: "--out FILE", summary: "write a new keyring (mode 0600) for a new installation; never overwrites", run: runKeysInit},
			{name: "status", summary: "list the master keys and how many customers each protects", run: runKeysStatus},
			{name: "rotate", summary: "add a new master key and re-wrap every data key under it", run: runKeysRotate},
			{name: "retire", args: "KEYID", summary: "remove a master key that no customer uses any more", run: runKeysRetire},
		},
	}
}

// runKeysInit writes a new keyring to --out, mode 0600, refusing to
// overwrite any file, and says where to keep it. It needs no data
// directory nor database: it is the first step of an installation.
func runKeysInit(_ context.Context, proc *process, args []string) error {
	fs := newFlagSet("keys init", proc.stderr)
	out := fs.String("out", "", "the keyring file to create (mode 0600); an existing file is never overwritten")
	if help, err := parse(fs, args); help || err != nil {
		return err
	}
	if *out == "" || fs.NArg() > 0 {
		return errors.New("usage: custodian keys init --out FILE")
	}
	if _, err := os.Lstat(*out); err == nil {
		return fmt.Errorf("%s exists; keys init never overwrites a keyring (losing one loses every customer it protects)", *out)
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o700); err != nil {
		return err
	}
	k, err := crypto.NewKeyring()
	if err != nil {
		return err
	}
	// Created exclusively first, so that two runs cannot both write it.
	f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600) // #nosec G304 -- the operator names the file
	if err != nil {
		return err
	}
	f.Close()
	if err := crypto.WriteKeyringFile(*out, k); err != nil {
		os.Remove(*out)
		return err
	}
	abs, _ := filepath.Abs(*out)
	fmt.Fprintf(proc.stdout, `wrote a new keyring to %s (mode 0600); its active master key is %s.
Keep it:
  - on the server, outside the data directory, readable only by the server's user
    (for example /etc/custodian/keyring.json, or a systemd or container secret), and
    give it to every command with --master-key-file %s (or CUSTODIAN_MASTER_KEY_FILE);
  - and a copy offline, apart from the database backups (a password manager or a safe):
    without the keyring no backup can be read; with it and a backup, anyone can.
Keep the shred key store (--shred-store) outside the data directory too (see docs/privacy.md).
`, abs, k.ActiveKeyID(), abs)
	return nil
}

// runKeysStatus lists the keyring's master keys with the number of
// customers each protects, and fails when customers are under keys the
// keyring lacks.
func runKeysStatus(ctx context.Context, proc *process, args []string) error {
	stdout, stderr := proc.stdout, proc.stderr
	fs := newFlagSet("keys status", stderr)
	flags := addKeyCommandFlags(fs)
	return flags.run(ctx, proc, fs, args, func(a *app) error {
		usage, err := a.store.KeyUsage(ctx)
		if err != nil {
			return err
		}
		k := a.keyring.keyring
		fmt.Fprintf(stdout, "keyring: %s\n", a.keyring.place())
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
	})
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

// runKeysRotate adds a master key to the keyring (or, with --rewrap-only,
// none) and re-wraps every data key under the active key, in batches that
// each commit or roll back, so that it can run beside serving instances
// and resume after an interruption.
func runKeysRotate(ctx context.Context, proc *process, args []string) error {
	stdout, stderr := proc.stdout, proc.stderr
	fs := newFlagSet("keys rotate", stderr)
	flags := addKeyCommandFlags(fs)
	out := fs.String("keyring-out", "", "write the keyring with its new master key to this file and stop, without re-wrapping: for a keyring given in CUSTODIAN_MASTER_KEY, which cannot be rewritten")
	rewrapOnly := fs.Bool("rewrap-only", false, "add no master key: re-wrap every data key under the keyring's active key")
	batch := fs.Int("batch", rotation.DefaultBatch, "data keys re-wrapped per transaction")
	if help, err := flags.parse(fs, args, proc.getenv); help || err != nil {
		return err
	}
	if *batch <= 0 {
		return errors.New("--batch must be positive")
	}
	if *out != "" && *rewrapOnly {
		return errors.New("--keyring-out writes a keyring with a new key; it cannot be combined with --rewrap-only")
	}
	return withApp(ctx, flags.config(), func(a *app) error {
		k := a.keyring.keyring
		if *out == "" && a.keyring.path == "" && !*rewrapOnly {
			return errors.New("the keyring comes from CUSTODIAN_MASTER_KEY, which this command cannot rewrite. " +
				"Either write a keyring with a new master key with --keyring-out FILE, install it on every server " +
				"(CUSTODIAN_MASTER_KEY or CUSTODIAN_MASTER_KEY_FILE) and restart them, then run \"custodian keys rotate --rewrap-only\" with it; " +
				"or supply a keyring whose active key is already new and run with --rewrap-only")
		}
		usage, err := a.store.KeyUsage(ctx)
		if err != nil {
			return err
		}

		switch stale := oldKeyRecords(usage, k.ActiveKeyID()); {
		case *rewrapOnly:
			fmt.Fprintf(stdout, "re-wrapping %d data keys under the active master key %s\n", stale, k.ActiveKeyID())
		case stale > 0 && *out == "":
			// An unfinished rotation: finish it rather than add another key.
			fmt.Fprintf(stdout, "resuming: %d data keys are under older master keys; re-wrapping them under the active key %s (no new key added)\n", stale, k.ActiveKeyID())
		default:
			id := k.AddMasterKey()
			dest := a.keyring.path
			if *out != "" {
				dest = *out
			}
			if err := crypto.WriteKeyringFile(dest, k); err != nil {
				return err
			}
			if dest != a.keyring.path {
				fmt.Fprintf(stdout, "wrote a keyring with the new active master key %s to %s.\n"+
					"No data key was re-wrapped: servers could not read keys wrapped under %s before they have this keyring.\n"+
					"Install it on every server (CUSTODIAN_MASTER_KEY_FILE=%s, or its content in CUSTODIAN_MASTER_KEY), restart them,\n"+
					"then run \"custodian keys rotate --rewrap-only\" with it.\n", id, dest, id, dest)
				return nil
			}
			fmt.Fprintf(stdout, "added master key %s to %s; it is now active (servers sharing a PostgreSQL database are told to reread it now; others reread it on SIGHUP, on their first record under it, or within %v)\n", id, dest, crypto.RefreshInterval)
		}

		// Serving instances that share the database reread their keyring
		// now, before any data key is re-wrapped: the ones given the new
		// keyring wrap new data keys under its key at once.
		announceKeyring(ctx, a, stderr)
		sealer, err := crypto.NewSealer(k, 1)
		if err != nil {
			return err
		}
		bar := newProgress(stderr)
		res, err := rotation.Rewrap(ctx, a.store, sealer, rotation.Options{Batch: *batch, OnBatch: bar.update})
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
	})
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

// runKeysRetire removes a master key that no customer uses any more from
// the keyring file.
func runKeysRetire(ctx context.Context, proc *process, args []string) error {
	fs := newFlagSet("keys retire", proc.stderr)
	flags := addKeyCommandFlags(fs)
	out := fs.String("keyring-out", "", "write the keyring without the key to this file, for a keyring given in CUSTODIAN_MASTER_KEY")
	// The key id may come before or after the flags.
	var id string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		id, args = args[0], args[1:]
	}
	rest, help, err := parseConfigArgs(fs, args, proc.getenv, true)
	if help || err != nil {
		return err
	}
	if err := flags.resolve(proc.getenv); err != nil {
		return err
	}
	if id == "" && len(rest) > 0 {
		id, rest = rest[0], rest[1:]
	}
	if id == "" || len(rest) > 0 {
		return errors.New("usage: custodian keys retire [flags] KEYID")
	}
	return withApp(ctx, flags.config(), func(a *app) error {
		k := a.keyring.keyring
		dest := a.keyring.path
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
		usage, err := a.store.KeyUsage(ctx)
		if err != nil {
			return err
		}
		if n := usage[id]; n > 0 {
			return fmt.Errorf("master key %s still protects %d customers; run \"custodian keys rotate\" first: %w", id, n, errKeyInUse)
		}
		if err := k.RemoveMasterKey(id); err != nil {
			return err
		}
		if err := crypto.WriteKeyringFile(dest, k); err != nil {
			return err
		}
		if dest == a.keyring.path {
			announceKeyring(ctx, a, proc.stderr)
		}
		fmt.Fprintf(proc.stdout, "retired master key %s from %s; no customer used it\n", id, dest)
		return nil
	})
}

// errKeyInUse reports a master key that still protects customers.
var errKeyInUse = errors.New("master key in use")

// announceKeyring tells the serving instances that share a PostgreSQL
// database, over the channel that carries account changes, to reread
// their keyring now rather than within crypto.RefreshInterval. It is best
// effort: an instance that misses it rereads the keyring on its first
// record under an unknown key, on SIGHUP, or within that interval. With
// SQLite there is no channel, and a server beside the command rereads it
// the same ways.
func announceKeyring(ctx context.Context, a *app, stderr io.Writer) {
	if a.authChanges == nil {
		return
	}
	if err := a.authChanges.Publish(ctx, custodian.AuthInvalidation{Keyring: true}); err != nil {
		fmt.Fprintf(stderr, "could not tell the serving instances to reread the keyring (%v); they do within %v, or on SIGHUP\n", err, crypto.RefreshInterval)
	}
}
