package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/accounts"
	"github.com/custodian-crm/custodian/crypto"
	"github.com/custodian-crm/custodian/password"
	"github.com/custodian-crm/custodian/sqlstore"
)

// app is what the data-touching commands share: the database, the
// sealer and the account service, opened from the same settings as serve.
type app struct {
	store    *sqlstore.Store
	sealer   *crypto.Sealer
	accounts *accounts.Service
}

// keyringOptions reads the keyring settings of the shell commands from the
// environment, as serve does.
func keyringOptions(getenv func(string) string, dataDir string) crypto.LoadOptions {
	return crypto.LoadOptions{Env: getenv("CUSTODIAN_MASTER_KEY"), File: getenv("CUSTODIAN_MASTER_KEY_FILE"), DataDir: dataDir}
}

// openApp opens the database and keyring and builds the services.
func openApp(ctx context.Context, storage *storageConfig, keys crypto.LoadOptions, policy ...accounts.Config) (*app, crypto.KeySource, string, error) {
	keyring, source, keyPath, err := crypto.LoadKeyring(keys)
	if err != nil {
		return nil, "", "", fmt.Errorf("keyring: %w", err)
	}
	// The sealer rereads the keyring from where it came, so a key added by
	// a rotation is picked up without a restart.
	sealer, err := crypto.NewSealerFromSource(keyringSource(keyring, source, keyPath, keys.Production), 0)
	if err != nil {
		return nil, "", "", fmt.Errorf("keyring: %w", err)
	}
	store, _, err := storage.openSealed(ctx, keyring)
	if err != nil {
		return nil, "", "", err
	}
	hasher, err := password.NewHasher(password.Config{})
	if err != nil {
		store.Close()
		return nil, "", "", err
	}
	var cfg accounts.Config
	if len(policy) > 0 {
		cfg = policy[0]
	}
	acc, err := accounts.New(store, hasher, sealer, cfg)
	if err != nil {
		store.Close()
		return nil, "", "", err
	}
	return &app{store: store, sealer: sealer, accounts: acc}, source, keyPath, nil
}

// shellApp parses a shell command's flags (after define has added its own)
// and opens the database and keyring from the same settings as serve. The
// caller closes the store.
func shellApp(ctx context.Context, fs *flag.FlagSet, args []string, getenv func(string) string) (*app, bool, error) {
	storage := addStorageFlags(fs)
	if help, err := parseConfig(fs, args, getenv); help || err != nil {
		return nil, help, err
	}
	if err := storage.resolve(); err != nil {
		return nil, false, err
	}
	a, _, _, err := openApp(ctx, storage, keyringOptions(getenv, *storage.dataDir))
	return a, false, err
}

// readSecret reads one line (a password) from r, without its line ending.
func readSecret(r io.Reader) (string, error) {
	if r == nil {
		return "", errors.New("no standard input to read the password from")
	}
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("no password on standard input")
	}
	return line, nil
}

// describe turns a field error into one line per field for the terminal.
func describe(err error) error {
	fields := custodian.ErrorFields(err)
	if len(fields) == 0 {
		return err
	}
	var b strings.Builder
	b.WriteString(custodian.ErrorMessage(err))
	for _, f := range fields {
		fmt.Fprintf(&b, "\n  %s: %s", f.Field, f.Message)
	}
	return errors.New(b.String())
}

// userUsage lists the user subcommands.
const userUsage = `usage:
  custodian user create --email E --role R [--name N] --password-stdin
  custodian user list
  custodian user role --email E --role R        (ends the user's sessions)
  custodian user deactivate --email E           (ends sessions, revokes tokens)
  custodian user activate --email E
  custodian user reset-2fa --email E
  custodian user unlock --email E`

// runUser manages accounts from a shell.
func runUser(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(userUsage)
	}
	switch args[0] {
	case "create":
	case "list", "role", "deactivate", "activate", "reset-2fa", "unlock":
		return runUserAdmin(ctx, args[0], args[1:], getenv, stdout, stderr)
	default:
		return errors.New(userUsage)
	}
	fs := newFlagSet("user create", stderr)
	storage := addStorageFlags(fs)
	email := fs.String("email", "", "the user's email address")
	name := fs.String("name", "", "the user's name (defaults to the part of the email before @)")
	role := fs.String("role", "", "admin, manager, agent, viewer or auditor")
	stdinPassword := fs.Bool("password-stdin", false, "read the password from standard input (required)")
	if help, err := parseConfig(fs, args[1:], getenv); help || err != nil {
		return err
	}
	if err := storage.resolve(); err != nil {
		return err
	}
	if !*stdinPassword {
		return errors.New("--password-stdin is required: passwords are never taken as arguments, which other users of the machine can see")
	}
	pw, err := readSecret(stdin)
	if err != nil {
		return err
	}
	if *name == "" {
		*name, _, _ = strings.Cut(*email, "@")
	}
	a, _, _, err := openApp(ctx, storage, keyringOptions(getenv, *storage.dataDir))
	if err != nil {
		return err
	}
	defer a.store.Close()
	u, err := a.accounts.CreateUser(ctx, *email, *name, custodian.Role(*role), pw)
	if err != nil {
		return describe(err)
	}
	fmt.Fprintf(stdout, "created %s %s (%s)\n", u.Role, u.Email, u.ID)
	return nil
}

// runToken issues personal access tokens from a shell: "token create".
func runToken(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		return errors.New(`usage: custodian token create --email E --name N [--expires-in-days D]`)
	}
	fs := newFlagSet("token create", stderr)
	email := fs.String("email", "", "the email address of the user the token acts for")
	name := fs.String("name", "", "what the token is for")
	days := fs.Int("expires-in-days", 90, "lifetime in days (at most 365)")
	a, help, err := shellApp(ctx, fs, args[1:], getenv)
	if help || err != nil {
		return err
	}
	defer a.store.Close()
	u, err := a.accounts.UserByEmail(ctx, *email)
	if err != nil {
		return fmt.Errorf("no user with email %q", *email)
	}
	tok, t, err := a.accounts.CreateAPIToken(ctx, u.ID, *name, time.Duration(*days)*24*time.Hour)
	if err != nil {
		return describe(err)
	}
	fmt.Fprintln(stdout, tok)
	fmt.Fprintf(stderr, "token %s for %s expires %s; it is shown only once\n", t.ID, u.Email, t.ExpiresAt.Format(time.RFC3339))
	return nil
}

// runUserAdmin runs the user subcommands that act on existing accounts,
// with the same rules as the API: a role change ends sessions, and
// deactivation ends sessions and revokes tokens at once.
func runUserAdmin(ctx context.Context, sub string, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("user "+sub, stderr)
	email := fs.String("email", "", "the user's email address")
	role := fs.String("role", "", "the new role (user role)")
	a, help, err := shellApp(ctx, fs, args, getenv)
	if help || err != nil {
		return err
	}
	defer a.store.Close()
	if sub == "list" {
		users, err := a.accounts.ListUsers(ctx)
		if err != nil {
			return err
		}
		for _, u := range users {
			state := "active"
			if !u.Active {
				state = "deactivated"
			}
			twofa := "2fa-off"
			if u.TOTPEnabled {
				twofa = "2fa-on"
			}
			fmt.Fprintf(stdout, "%s\t%s\t%s\t%s\t%s\n", u.ID, u.Email, u.Role, state, twofa)
		}
		return nil
	}
	u, err := a.accounts.UserByEmail(ctx, *email)
	if err != nil {
		return fmt.Errorf("no user with email %q", *email)
	}
	switch sub {
	case "role":
		_, err = a.accounts.SetRole(ctx, u.ID, custodian.Role(*role))
	case "deactivate", "activate":
		_, err = a.accounts.SetActive(ctx, u.ID, sub == "activate")
	case "reset-2fa":
		err = a.accounts.ResetTOTP(ctx, u.ID)
	case "unlock":
		err = a.accounts.Unlock(ctx, u.ID)
	}
	if err != nil {
		return describe(err)
	}
	fmt.Fprintf(stdout, "%s: done for %s\n", sub, u.Email)
	return nil
}

// runSettings changes security settings kept in the database from a shell,
// for example before the first production start.
func runSettings(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("settings", stderr)
	roles := fs.String("require-2fa-roles", "", "comma-separated roles that must use two-factor authentication (\"none\" for none)")
	a, help, err := shellApp(ctx, fs, args, getenv)
	if help || err != nil {
		return err
	}
	defer a.store.Close()
	if *roles != "" {
		var rs []custodian.Role
		for _, r := range strings.Split(*roles, ",") {
			if r = strings.TrimSpace(r); r != "" && r != "none" {
				rs = append(rs, custodian.Role(r))
			}
		}
		if err := a.accounts.SetRequiredTOTPRoles(ctx, rs); err != nil {
			return describe(err)
		}
	}
	current, err := a.accounts.RequiredTOTPRoles(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "require-2fa-roles: %v\n", current)
	return nil
}
