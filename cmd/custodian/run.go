package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/custodian-crm/custodian"
)

// usage is shown for -h and for an unknown command.
const usage = `Usage: custodian <command> [flags]

Commands:
  serve     run the server (SQLite under ./data unless --database-url is set)
  migrate   apply pending database migrations and print the schema version
  user      create an account: user create --email E --role R --password-stdin
  token     issue a personal access token: token create --email E --name N
  keys      master keys: status, rotate (online re-wrapping), retire
  settings  security settings kept in the database: --require-2fa-roles admin
  audit     the audit trail: verify its chain, print its head as an anchor
  consent   show or record a customer's consent: consent --customer ID [--for P --state given]
  hold      set or lift a legal hold: hold --customer ID --reason R [--lift]
  erase     erase a customer's personal data for good: erase --customer ID --reason R
  export    everything held about a customer, as JSON: export --customer ID [--out F]
  processing who has seen a customer's data: processing --customer ID
  retention apply the retention policy: retention run [--dry-run]
  check     validate the configuration; with --deploy, list insecure settings
  version   print the version

Run "custodian <command> -h" for a command's flags. Every flag can also be
set in the environment as CUSTODIAN_<FLAG> (for example CUSTODIAN_DATA_DIR)
or in a JSON file given with --config; a flag on the command line wins over
the environment, which wins over the file.
`

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// run is the whole program: it parses args, runs one command and returns
// its error. It reads the environment only through getenv.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) < 2 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	cmd, rest := args[1], args[2:]
	if cmd != "serve" {
		// Changes made from a shell are recorded as the command's.
		ctx = custodian.WithActor(ctx, custodian.ActorCLI)
	}
	switch cmd {
	case "serve":
		return runServe(ctx, rest, getenv, stdout, stderr)
	case "user":
		return runUser(ctx, rest, getenv, stdin, stdout, stderr)
	case "token":
		return runToken(ctx, rest, getenv, stdout, stderr)
	case "migrate":
		return runMigrate(ctx, rest, getenv, stdout, stderr)
	case "check":
		return runCheck(ctx, rest, getenv, stdout, stderr)
	case "settings":
		return runSettings(ctx, rest, getenv, stdout, stderr)
	case "keys":
		return runKeys(ctx, rest, getenv, stdout, stderr)
	case "audit":
		return runAudit(ctx, rest, getenv, stdout, stderr)
	case "consent":
		return runConsent(ctx, rest, getenv, stdout, stderr)
	case "hold":
		return runHold(ctx, rest, getenv, stdout, stderr)
	case "erase":
		return runErase(ctx, rest, getenv, stdout, stderr)
	case "export":
		return runExport(ctx, rest, getenv, stdout, stderr)
	case "processing":
		return runProcessing(ctx, rest, getenv, stdout, stderr)
	case "retention":
		return runRetention(ctx, rest, getenv, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "custodian", version)
		return nil
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}

// newFlagSet returns a flag set for a command that reports errors instead
// of exiting.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("custodian "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// envName is the environment variable that sets a flag.
func envName(flagName string) string {
	return "CUSTODIAN_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// stringFlag defines a string flag whose help names its environment
// variable; parseConfig fills it from there or from the configuration
// file when the command line does not set it.
func stringFlag(fs *flag.FlagSet, name, def, help string) *string {
	return fs.String(name, def, help+" (env "+envName(name)+")")
}

// listVar defines a repeatable, comma-separated list flag.
func listVar(fs *flag.FlagSet, name, help string) *listFlag {
	l := &listFlag{}
	fs.Var(l, name, help+"; repeatable or comma-separated (env "+envName(name)+")")
	return l
}

// parse parses a command's flags, treating -h as success.
func parse(fs *flag.FlagSet, args []string) (help bool, err error) {
	err = fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		return true, nil
	}
	if err == nil && fs.NArg() > 0 {
		err = fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return false, err
}
