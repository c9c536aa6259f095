package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/accounts"
	"github.com/custodian-crm/custodian/crypto"
	"github.com/custodian-crm/custodian/customers"
	"github.com/custodian-crm/custodian/hashchain"
	"github.com/custodian-crm/custodian/importer"
	"github.com/custodian-crm/custodian/password"
	"github.com/custodian-crm/custodian/postgres"
	"github.com/custodian-crm/custodian/sqlite"
	"github.com/custodian-crm/custodian/sqlstore"
	"github.com/custodian-crm/custodian/webhooks"
)

// app is the application as every command uses it, opened by openApp from
// the command's parsed configuration. What a command did not ask for is
// nil.
type app struct {
	store  *sqlstore.Store
	schema int64 // the schema version the database is at, after migrating

	keyring  *loadedKeyring // the keyring and where it came from
	sealer   *crypto.Sealer
	chain    *hashchain.Chain // seals the audit trail, with the keyring's chain key
	accounts *accounts.Service
	// authChanges carries account changes between the instances sharing
	// a PostgreSQL database; nil with SQLite, whose data directory
	// belongs to one server.
	authChanges *postgres.AuthChannel

	shred     *sqlstore.ShredStore // with withCustomers
	customers *customers.Service   // with withCustomers

	// lease says whether this instance runs the background jobs (with
	// holdDataDir): the data directory's lock with SQLite, an advisory
	// lock with PostgreSQL.
	lease interface {
		custodian.JobLease
		Close() error
	}
	webhooks *webhooks.Service // with withCustomers
	imports  *importer.Jobs    // with withCustomers: background imports
}

// Close closes what openApp opened.
func (a *app) Close() error {
	var err error
	if a.imports != nil {
		a.imports.Close() // cancels running imports; committed batches stay
	}
	if a.accounts != nil {
		a.accounts.Close() // last-used times still being written
	}
	if a.shred != nil {
		err = a.shred.Close()
	}
	if a.store != nil {
		err = errors.Join(err, a.store.Close())
	}
	if a.lease != nil {
		// Last: the data directory is released once nothing uses it.
		err = errors.Join(err, a.lease.Close())
	}
	return err
}

// appConfig is the parsed configuration openApp opens the application
// from. Each command fills the parts it has flags for; the others keep
// their zero value, the defaults.
type appConfig struct {
	storage    *storageConfig
	keys       *keyFlags
	production bool // refuse a development keyring and key files others can read
	accounts   accounts.Config
	customers  customers.Options // the shred store is openApp's to fill
	webhooks   webhooks.Options  // the customer service and logger are openApp's to fill
	// logger reports what fails in the background (serve's log); nil
	// discards.
	logger *slog.Logger
	// leaseRetry is how often a PostgreSQL instance tries or checks the
	// job lease (holdDataDir); zero is postgres.DefaultLeaseRetry.
	leaseRetry time.Duration
}

// openOption says what a command needs of openApp beyond its default: the
// migrated database, the keyring (never generated), the sealer, the audit
// chain and the account service.
type openOption int

const (
	// databaseOnly opens only the migrated database, needing no keys
	// (migrate). Its store cannot append to the audit trail.
	databaseOnly openOption = iota + 1
	// generateDevKeyring lets openApp generate the development keyring in
	// --data-dir when no keyring is configured and there is none yet,
	// outside production (serve on a first run, and the account and
	// data-protection commands, which may come first).
	generateDevKeyring
	// withCustomers also opens the shred key store and builds the
	// customer service over it (serve and the data-protection commands).
	withCustomers
	// holdDataDir makes this process the one server of its data: with
	// SQLite it locks the data directory before anything else, failing at
	// once when another server holds it; with PostgreSQL it competes for
	// the job lease with the other instances (serve).
	holdDataDir
	// forRestore opens the keyring, the sealer, the audit chain and the
	// shred key store, and no database: restore opens the one it fills
	// itself, unmigrated.
	forRestore
)

// openApp is the one place the application is opened, by every command:
// it loads the keyring, derives the sealer and the audit chain, opens and
// migrates the database with that chain, and builds the services opts ask
// for. On error it closes what it had opened.
func openApp(ctx context.Context, cfg appConfig, opts ...openOption) (_ *app, err error) {
	has := func(o openOption) bool { return slices.Contains(opts, o) }
	a := &app{}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	if has(holdDataDir) && *cfg.storage.databaseURL == "" {
		lock, err := sqlite.LockDir(*cfg.storage.dataDir)
		if err != nil {
			return nil, err
		}
		a.lease = lock
	}
	if has(databaseOnly) {
		if a.store, a.schema, err = cfg.storage.openStore(ctx, sqlstore.Options{WithoutAuditChain: true}); err != nil {
			return nil, err
		}
		return a, nil
	}

	if a.keyring, err = loadKeyring(cfg.keys, *cfg.storage.dataDir, cfg.production, has(generateDevKeyring)); err != nil {
		return nil, err
	}
	// The sealer rereads the keyring from where it came, so a key added by
	// a rotation is picked up without a restart.
	if a.sealer, err = crypto.NewSealerFromSource(a.keyring.sealerSource(), 0); err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	// Every command that may append to the trail seals it with the
	// keyring's chain key, as serve does, or its events would break the
	// chain.
	if a.chain, err = newAuditChain(a.keyring.keyring); err != nil {
		return nil, err
	}
	if has(forRestore) {
		if has(holdDataDir) && *cfg.storage.databaseURL != "" {
			if a.lease, err = postgres.NewJobLease(ctx, *cfg.storage.databaseURL, postgres.JobLeaseOptions{Retry: cfg.leaseRetry, Logger: cfg.logger}); err != nil {
				return nil, err
			}
		}
		if a.shred, err = cfg.storage.openShred(ctx); err != nil {
			return nil, err
		}
		return a, nil
	}
	if a.store, a.schema, err = cfg.storage.openStore(ctx, sqlstore.Options{AuditChain: a.chain}); err != nil {
		return nil, err
	}

	hasher, err := password.NewHasher(password.Config{})
	if err != nil {
		return nil, fmt.Errorf("password hasher: %w", err)
	}
	ac := cfg.accounts
	ac.Logger = cfg.logger
	// With PostgreSQL, other instances may share the database: every
	// account change made here, by serve or a command, is announced to
	// them.
	if *cfg.storage.databaseURL != "" {
		if a.authChanges, err = postgres.NewAuthChannel(*cfg.storage.databaseURL, a.store.DB(), postgres.AuthChannelOptions{Logger: cfg.logger}); err != nil {
			return nil, err
		}
		ac.Publisher = a.authChanges
	}
	if a.accounts, err = accounts.New(a.store, hasher, a.sealer, ac); err != nil {
		return nil, fmt.Errorf("account service: %w", err)
	}

	if has(holdDataDir) && *cfg.storage.databaseURL != "" {
		if a.lease, err = postgres.NewJobLease(ctx, *cfg.storage.databaseURL, postgres.JobLeaseOptions{Retry: cfg.leaseRetry, Logger: cfg.logger}); err != nil {
			return nil, err
		}
	}
	if has(withCustomers) {
		if a.shred, err = cfg.storage.openShred(ctx); err != nil {
			return nil, err
		}
		o := cfg.customers
		o.Shred = a.shred
		a.customers = customers.New(a.store, a.sealer, o)
		wo := cfg.webhooks
		wo.Customers, wo.Logger = a.customers, cfg.logger
		a.webhooks = webhooks.New(a.store, a.sealer, wo)
		a.imports = importer.NewJobs(a.customers, a.store, importer.JobsOptions{Logger: cfg.logger})
	}
	return a, nil
}

// newAuditChain is the audit chain sealed with k's chain key, as every
// command and serve seal the trail.
func newAuditChain(k *crypto.Keyring) (*hashchain.Chain, error) {
	chain, err := hashchain.NewChain(k.AuditChainKey())
	if err != nil {
		return nil, fmt.Errorf("audit chain: %w", err)
	}
	return chain, nil
}

// withApp opens the application from cfg with opts, runs use with it and
// closes it.
func withApp(ctx context.Context, cfg appConfig, use func(a *app) error, opts ...openOption) error {
	a, err := openApp(ctx, cfg, opts...)
	if err != nil {
		return err
	}
	defer a.Close()
	return use(a)
}

// appFlags are the flags of the shell commands that open the application:
// where its data is, where its keys are and, for the key and audit
// commands, --production. serve and check define the same flags among
// theirs (serveSettings).
type appFlags struct {
	storage    *storageConfig
	keys       *keyFlags
	production *bool // nil for the commands without --production, which never judge as production
}

// addAppFlags defines the storage and key flags on fs.
func addAppFlags(fs *flag.FlagSet) *appFlags {
	return &appFlags{storage: addStorageFlags(fs), keys: addKeyFlags(fs)}
}

// addKeyCommandFlags defines the flags of the key and audit commands: the
// storage and key flags, and --production, which refuses a development
// keyring and key files others can read.
func addKeyCommandFlags(fs *flag.FlagSet) *appFlags {
	f := addAppFlags(fs)
	f.production = fs.Bool("production", false, "refuse insecure settings such as a development keyring (env CUSTODIAN_PRODUCTION or CUSTODIAN_ENV=production)")
	return f
}

// parse parses a command's flags (after the command has defined its own)
// with parseConfig's precedence, then resolves the settings they name. It
// treats -h as success.
func (f *appFlags) parse(fs *flag.FlagSet, args []string, getenv func(string) string) (help bool, err error) {
	if help, err := parseConfig(fs, args, getenv); help || err != nil {
		return help, err
	}
	return false, f.resolve(getenv)
}

// resolve reads the secrets the flags name: the database URL's file and
// the keyring in the environment.
func (f *appFlags) resolve(getenv func(string) string) error {
	if err := f.storage.resolve(); err != nil {
		return err
	}
	f.keys.resolve(getenv)
	return nil
}

// run parses the command's flags (after the command has defined its
// own), opens the application with opts, runs use with it and closes it.
// It treats -h as success, running nothing.
func (f *appFlags) run(ctx context.Context, proc *process, fs *flag.FlagSet, args []string, use func(a *app) error, opts ...openOption) error {
	if help, err := f.parse(fs, args, proc.getenv); help || err != nil {
		return err
	}
	return withApp(ctx, f.config(), use, opts...)
}

// config is the configuration openApp opens the application from.
func (f *appFlags) config() appConfig {
	return appConfig{storage: f.storage, keys: f.keys, production: f.production != nil && *f.production}
}
