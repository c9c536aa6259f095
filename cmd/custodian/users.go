package main

import (
	"bufio"
	"context"
	"errors"
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
func openApp(ctx context.Context, storage *storageConfig, keys crypto.LoadOptions) (*app, crypto.KeySource, string, error) {
	_, source, keyPath, err := crypto.LoadKeyring(keys)
	if err != nil {
		return nil, "", "", fmt.Errorf("keyring: %w", err)
	}
	// The sealer rereads the keyring from where it came, so a key added by
	// a rotation is picked up without a restart.
	sealer, err := crypto.NewSealerFromSource(keyringReloader(keys.Env, source, keyPath, keys.Production), 0)
	if err != nil {
		return nil, "", "", fmt.Errorf("keyring: %w", err)
	}
	store, _, err := storage.open(ctx)
	if err != nil {
		return nil, "", "", err
	}
	hasher, err := password.NewHasher(password.Config{})
	if err != nil {
		store.Close()
		return nil, "", "", err
	}
	acc, err := accounts.New(store, hasher, sealer, accounts.Config{})
	if err != nil {
		store.Close()
		return nil, "", "", err
	}
	return &app{store: store, sealer: sealer, accounts: acc}, source, keyPath, nil
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

// runUser manages accounts from a shell: "user create".
func runUser(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		return errors.New(`usage: custodian user create --email E --role R [--name N] --password-stdin`)
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
	storage := addStorageFlags(fs)
	email := fs.String("email", "", "the email address of the user the token acts for")
	name := fs.String("name", "", "what the token is for")
	days := fs.Int("expires-in-days", 90, "lifetime in days (at most 365)")
	if help, err := parseConfig(fs, args[1:], getenv); help || err != nil {
		return err
	}
	if err := storage.resolve(); err != nil {
		return err
	}
	a, _, _, err := openApp(ctx, storage, keyringOptions(getenv, *storage.dataDir))
	if err != nil {
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
