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
)

// userCommands are the account commands, with the same rules as the API:
// a role change ends the user's sessions, and deactivation ends sessions
// and revokes tokens at once.
func userCommands() commandTable {
	return commandTable{
		path: "custodian user",
		commands: []command{
			{name: "create", args: "--email E --role R [--name N] --password-stdin", summary: "create an account, its password read from standard input", run: runUserCreate},
			{name: "list", summary: "list the accounts: id, email, role, state, two-factor authentication", run: runUserList},
			{name: "role", args: "--email E --role R", summary: "change a user's role (ends the user's sessions)", run: userAction("role", setRole)},
			{name: "set-email", args: "--email E --new-email N", summary: "change a user's sign-in address without a mailed link (ends the user's sessions)", run: runUserSetEmail},
			{name: "deactivate", args: "--email E", summary: "deactivate an account (ends sessions, revokes tokens)", run: userAction("deactivate", deactivate)},
			{name: "activate", args: "--email E", summary: "activate a deactivated account", run: userAction("activate", activate)},
			{name: "reset-2fa", args: "--email E", summary: "turn off a user's two-factor authentication", run: userAction("reset-2fa", resetTOTP)},
			{name: "unlock", args: "--email E", summary: "lift a sign-in lock", run: userAction("unlock", unlock)},
		},
	}
}

// tokenCommands are the personal access token commands.
func tokenCommands() commandTable {
	return commandTable{
		path: "custodian token",
		commands: []command{
			{name: "create", args: "--email E --name N [--expires-in-days D]", summary: "issue a personal access token, printed once", run: runTokenCreate},
		},
	}
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
// The result still wraps err, so its code reaches errors.Is and errors.As.
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
	return &describedError{text: b.String(), err: err}
}

// describedError is an error with a text of its own for the terminal.
type describedError struct {
	text string
	err  error
}

// Error returns the text written for the terminal.
func (e *describedError) Error() string { return e.text }

// Unwrap returns the error described.
func (e *describedError) Unwrap() error { return e.err }

// runUserCreate creates an account from a shell, reading its password
// from standard input, never from the command line.
func runUserCreate(ctx context.Context, proc *process, args []string) error {
	fs := newFlagSet("user create", proc.stderr)
	flags := addAppFlags(fs)
	email := fs.String("email", "", "the user's email address")
	name := fs.String("name", "", "the user's name (defaults to the part of the email before @)")
	role := fs.String("role", "", "admin, manager, agent, viewer or auditor")
	stdinPassword := fs.Bool("password-stdin", false, "read the password from standard input (required)")
	if help, err := flags.parse(fs, args, proc.getenv); help || err != nil {
		return err
	}
	if !*stdinPassword {
		return errors.New("--password-stdin is required: passwords are never taken as arguments, which other users of the machine can see")
	}
	pw, err := readSecret(proc.stdin)
	if err != nil {
		return err
	}
	if *name == "" {
		*name, _, _ = strings.Cut(*email, "@")
	}
	return withApp(ctx, flags.config(), func(a *app) error {
		u, err := a.accounts.CreateUser(ctx, *email, *name, custodian.Role(*role), pw)
		if err != nil {
			return describe(err)
		}
		fmt.Fprintf(proc.stdout, "created %s %s (%s)\n", u.Role, u.Email, u.ID)
		return nil
	}, generateDevKeyring)
}

// runTokenCreate issues a personal access token from a shell; the token is
// printed once, on standard output.
func runTokenCreate(ctx context.Context, proc *process, args []string) error {
	fs := newFlagSet("token create", proc.stderr)
	flags := addAppFlags(fs)
	email := fs.String("email", "", "the email address of the user the token acts for")
	name := fs.String("name", "", "what the token is for")
	days := fs.Int("expires-in-days", 90, "lifetime in days (at most 365)")
	return flags.run(ctx, proc, fs, args, func(a *app) error {
		u, err := a.userByEmail(ctx, *email)
		if err != nil {
			return err
		}
		tok, t, err := a.accounts.CreateAPIToken(ctx, u.ID, *name, time.Duration(*days)*24*time.Hour)
		if err != nil {
			return describe(err)
		}
		fmt.Fprintln(proc.stdout, tok)
		fmt.Fprintf(proc.stderr, "token %s for %s expires %s; it is shown only once\n", t.ID, u.Email, t.ExpiresAt.Format(time.RFC3339))
		return nil
	}, generateDevKeyring)
}

// userByEmail returns the user with the email address --email gives.
func (a *app) userByEmail(ctx context.Context, email string) (*custodian.User, error) {
	u, err := a.accounts.UserByEmail(ctx, email)
	if err != nil {
		return nil, fmt.Errorf("no user with email %q: %w", email, err)
	}
	return u, nil
}

// accountChange is what a user sub-command does to the account --email
// names, with --role as the new role where it takes one.
type accountChange func(ctx context.Context, acc *accounts.Service, userID string, role custodian.Role) error

// setRole changes the user's role, which ends their sessions.
func setRole(ctx context.Context, acc *accounts.Service, userID string, role custodian.Role) error {
	_, err := acc.SetRole(ctx, userID, role)
	return err
}

// deactivate deactivates the account, ending its sessions and revoking its
// tokens at once.
func deactivate(ctx context.Context, acc *accounts.Service, userID string, _ custodian.Role) error {
	_, err := acc.SetActive(ctx, userID, false)
	return err
}

// activate activates a deactivated account.
func activate(ctx context.Context, acc *accounts.Service, userID string, _ custodian.Role) error {
	_, err := acc.SetActive(ctx, userID, true)
	return err
}

// resetTOTP turns off the user's two-factor authentication.
func resetTOTP(ctx context.Context, acc *accounts.Service, userID string, _ custodian.Role) error {
	return acc.ResetTOTP(ctx, userID)
}

// unlock lifts the user's sign-in lock.
func unlock(ctx context.Context, acc *accounts.Service, userID string, _ custodian.Role) error {
	return acc.Unlock(ctx, userID)
}

// addUserActionFlags defines the flags every user sub-command but create
// takes: the application's, --email and --role.
func addUserActionFlags(fs *flag.FlagSet) (flags *appFlags, email, role *string) {
	return addAppFlags(fs),
		fs.String("email", "", "the user's email address"),
		fs.String("role", "", "the new role (user role)")
}

// userAction returns the run function of the user sub-command name, which
// makes change to the account --email names.
func userAction(name string, change accountChange) func(ctx context.Context, proc *process, args []string) error {
	return func(ctx context.Context, proc *process, args []string) error {
		fs := newFlagSet("user "+name, proc.stderr)
		flags, email, role := addUserActionFlags(fs)
		return flags.run(ctx, proc, fs, args, func(a *app) error {
			u, err := a.userByEmail(ctx, *email)
			if err != nil {
				return err
			}
			if err := change(ctx, a.accounts, u.ID, custodian.Role(*role)); err != nil {
				return describe(err)
			}
			fmt.Fprintf(proc.stdout, "%s: done for %s\n", name, u.Email)
			return nil
		}, generateDevKeyring)
	}
}

// runUserSetEmail changes the sign-in address of the user --email names to
// --new-email, for the operator: users change their own address by a link
// mailed to the new one, which a server without mail cannot send. It has
// the rules of the link (a valid address no other account has), ends the
// user's sessions and is recorded as the shell's.
func runUserSetEmail(ctx context.Context, proc *process, args []string) error {
	fs := newFlagSet("user set-email", proc.stderr)
	flags := addAppFlags(fs)
	email := fs.String("email", "", "the user's current email address")
	newEmail := fs.String("new-email", "", "the user's new email address")
	if help, err := flags.parse(fs, args, proc.getenv); help || err != nil {
		return err
	}
	if *newEmail == "" {
		return errors.New("--new-email is required")
	}
	return withApp(ctx, flags.config(), func(a *app) error {
		u, err := a.userByEmail(ctx, *email)
		if err != nil {
			return err
		}
		changed, err := a.accounts.SetEmail(ctx, u.ID, *newEmail)
		if err != nil {
			return describe(err)
		}
		fmt.Fprintf(proc.stdout, "set-email: %s signs in as %s; their sessions have ended\n", u.ID, changed.Email)
		return nil
	}, generateDevKeyring)
}

// runUserList lists the accounts, one a line: id, email, role, state and
// whether two-factor authentication is on.
func runUserList(ctx context.Context, proc *process, args []string) error {
	fs := newFlagSet("user list", proc.stderr)
	flags, _, _ := addUserActionFlags(fs)
	return flags.run(ctx, proc, fs, args, func(a *app) error {
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
			fmt.Fprintf(proc.stdout, "%s\t%s\t%s\t%s\t%s\n", u.ID, u.Email, u.Role, state, twofa)
		}
		return nil
	}, generateDevKeyring)
}

// runSettings changes security settings kept in the database from a shell,
// for example before the first production start: the roles that must use
// two-factor authentication, and those that must sign in with a passkey.
func runSettings(ctx context.Context, proc *process, args []string) error {
	fs := newFlagSet("settings", proc.stderr)
	flags := addAppFlags(fs)
	roles := fs.String("require-2fa-roles", "", "comma-separated roles that must use two-factor authentication (\"none\" for none)")
	passkeyRoles := fs.String("require-passkey-roles", "", "comma-separated roles that must sign in with a passkey (\"none\" for none)")
	return flags.run(ctx, proc, fs, args, func(a *app) error {
		if *roles != "" {
			if err := a.accounts.SetRequiredTOTPRoles(ctx, roleList(*roles)); err != nil {
				return describe(err)
			}
		}
		if *passkeyRoles != "" {
			if err := a.accounts.SetRequiredPasskeyRoles(ctx, roleList(*passkeyRoles)); err != nil {
				return describe(err)
			}
		}
		current, err := a.accounts.RequiredTOTPRoles(ctx)
		if err != nil {
			return err
		}
		passkeys, err := a.accounts.RequiredPasskeyRoles(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(proc.stdout, "require-2fa-roles: %v\nrequire-passkey-roles: %v\n", current, passkeys)
		return nil
	}, generateDevKeyring)
}

// roleList reads a comma-separated list of roles; "none" is none.
func roleList(s string) []custodian.Role {
	var rs []custodian.Role
	for _, r := range strings.Split(s, ",") {
		if r = strings.TrimSpace(r); r != "" && r != "none" {
			rs = append(rs, custodian.Role(r))
		}
	}
	return rs
}
