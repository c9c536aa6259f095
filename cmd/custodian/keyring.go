package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"github.com/custodian-crm/custodian/crypto"
)

// keyFlags say where a command's keyring is. Every command that needs
// keys defines them, so the keyring is found the same way everywhere:
// --master-key-file, set like every other flag (command line, then
// CUSTODIAN_MASTER_KEY_FILE, then the configuration file), or the keyring
// itself in CUSTODIAN_MASTER_KEY, which is deliberately not a flag: on a
// command line it would be visible to every user of the machine. Without
// either, the development keyring in --data-dir is used.
type keyFlags struct {
	file *string

	// Read by resolve.
	envKeyring string
}

// addKeyFlags defines the key flags on fs.
func addKeyFlags(fs *flag.FlagSet) *keyFlags {
	return &keyFlags{
		file: stringFlag(fs, "master-key-file", "", "keyring file (mode 0600); CUSTODIAN_MASTER_KEY holds the keyring itself"),
	}
}

// resolve reads the keyring given in the environment, the one setting
// that has no flag.
func (k *keyFlags) resolve(getenv func(string) string) {
	k.envKeyring = getenv("CUSTODIAN_MASTER_KEY")
}

// loadedKeyring is a keyring loaded for a command, and where it came from.
type loadedKeyring struct {
	keyring    *crypto.Keyring
	source     crypto.KeySource
	path       string // the file it was read from; empty for the environment
	production bool   // loaded under production rules, which reloads keep
}

// loadKeyring loads the keyring the key flags name, the one way every
// command does. Without a configured keyring, outside production, it uses
// the development keyring in dataDir, and generates one there when
// generate is set and there is none (serve, on a first run); otherwise a
// missing development keyring is an error, as for the key commands, where
// it is a mistake. In production only a configured keyring is accepted.
func loadKeyring(keys *keyFlags, dataDir string, production, generate bool) (*loadedKeyring, error) {
	o := crypto.LoadOptions{Env: keys.envKeyring, File: *keys.file, DataDir: dataDir, Production: production}
	if o.Env == "" && o.File == "" && !production && !generate {
		path := filepath.Join(dataDir, crypto.DevKeyringName)
		k, err := crypto.ReadKeyringFile(path, false)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("keyring: none configured and no development keyring at %s (set CUSTODIAN_MASTER_KEY_FILE, or --data-dir): %w", path, crypto.ErrNoKeyring)
		}
		if err != nil {
			return nil, fmt.Errorf("keyring: %w", err)
		}
		return &loadedKeyring{keyring: k, source: crypto.SourceDataDir, path: path}, nil
	}
	k, source, path, err := crypto.LoadKeyring(o)
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	return &loadedKeyring{keyring: k, source: source, path: path, production: production}, nil
}

// place says where the keyring lives, for messages.
func (l *loadedKeyring) place() string {
	if l.path == "" {
		return "CUSTODIAN_MASTER_KEY (environment)"
	}
	return l.path
}

// sealerSource is the sealer's keyring source: its first call returns the
// keyring just loaded, so that start-up reads it once; later calls,
// reloads (after a rotation, or on SIGHUP), reread the same file, never
// generating one. A keyring from the environment cannot change while the
// process runs, so it is the same keyring for good.
func (l *loadedKeyring) sealerSource() func() (*crypto.Keyring, error) {
	if l.path == "" {
		return func() (*crypto.Keyring, error) { return l.keyring, nil }
	}
	first := l.keyring
	path, strict := l.path, l.production && l.source != crypto.SourceGenerated
	return func() (*crypto.Keyring, error) {
		// The first call is the sealer's constructor, before any reload
		// can run concurrently.
		if k := first; k != nil {
			first = nil
			return k, nil
		}
		return crypto.ReadKeyringFile(path, strict)
	}
}

// errKeyringMismatch refuses to serve data the keyring does not open.
var errKeyringMismatch = errors.New("the keyring does not open the data")

// keyringSample is how many customers' data keys serve tries at start.
const keyringSample = 16

// checkKeyringOpensData checks, before serve answers anything, that its
// keyring is the one the data it finds was written with: every master key
// the customers' data keys are wrapped under is in it, a sample of those
// data keys (the oldest and the newest) opens, and the newest audit event
// is sealed with its chain key. Otherwise every read of a customer would
// fail while the server looked healthy; the error names what is missing.
func checkKeyringOpensData(ctx context.Context, a *app) error {
	usage, err := a.store.KeyUsage(ctx)
	if err != nil {
		return err
	}
	return checkKeyringOpens(ctx, a, usage)
}

// checkKeyringOpens is checkKeyringOpensData given the store's key usage
// (customers by master key id), for a caller that has just read it.
// The master keys are the sealer's, which follow a reloaded keyring
// (SIGHUP, or another instance's rotation), not the keyring serve started
// with.
func checkKeyringOpens(ctx context.Context, a *app, usage map[string]int64) error {
	ids := a.sealer.KeyIDs()
	var missing []string
	var lost int64
	for _, id := range slices.Sorted(maps.Keys(usage)) {
		if !slices.Contains(ids, id) {
			missing = append(missing, id)
			lost += usage[id]
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %d customers are under master keys %s, which the keyring (%s, keys %s) does not hold; start with the keyring the data was written with",
			errKeyringMismatch, lost, strings.Join(missing, ", "), a.keyring.place(), strings.Join(ids, ", "))
	}
	sample, err := a.store.DataKeySample(ctx, keyringSample)
	if err != nil {
		return err
	}
	for _, s := range sample {
		if err := a.sealer.CheckDataKey(s.CustomerID, s.KeyID, s.Wrapped); err != nil {
			return fmt.Errorf("%w: customer %s's data key does not open under master key %s of the keyring (%s): a keyring with the same key ids but other keys", errKeyringMismatch, s.CustomerID, s.KeyID, a.keyring.place())
		}
	}
	head, err := a.store.AuditHead(ctx)
	if err != nil || head.Seq == 0 {
		return err
	}
	for e, err := range a.store.AuditChain(ctx, head.Seq-1) {
		if err != nil {
			return err
		}
		if !bytes.Equal(a.chain.Sum(e.PrevHash, &e), e.Hash) {
			return fmt.Errorf("%w: the newest audit event (seq %d) is not sealed with the chain key of the keyring (%s): start with the keyring the trail was written with", errKeyringMismatch, e.Seq, a.keyring.place())
		}
		break
	}
	return nil
}
