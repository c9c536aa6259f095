package main

import (
	"context"
	"fmt"
	"io"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/custodian-crm/custodian"
)

// version, commit and buildTime may be set at build time with -ldflags
// "-X main.version=... -X main.commit=... -X main.buildTime=...", as the
// Dockerfile does (its build context has no .git); otherwise "custodian
// version" reads the commit from the build information the Go toolchain
// embeds. They are never written while the program runs.
var (
	version   = "dev"
	commit    = ""
	buildTime = ""
)

// process is what one run of the program is given by the process it runs
// in: its environment and its standard streams. Commands read the
// environment only through getenv, so that tests can run them in-process
// with an environment of their own.
type process struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// command is one sub-command: the name typed to run it, what its usage
// line shows after the name, a one-line summary, and the function that
// runs it with the arguments that follow its name.
type command struct {
	name    string
	args    string   // shown after the name in the usage, e.g. "KEYID"
	summary string   // one line
	aliases []string // other names that run it, not shown in the usage
	// server marks the command that serves requests, which name their
	// own actors. Changes made by any other command are recorded as made
	// from a shell (custodian.ActorCLI).
	server bool
	run    func(ctx context.Context, proc *process, args []string) error
}

// synopsis is the command's name and arguments, as its usage line shows
// them.
func (c command) synopsis() string {
	if c.args == "" {
		return c.name
	}
	return c.name + " " + c.args
}

// commandTable is one level of sub-commands: the program's own
// ("custodian <command>") or a command's ("custodian keys <command>"). The
// same code lists, dispatches and refuses at every level.
type commandTable struct {
	path     string // how the level is invoked: "custodian" or "custodian keys"
	about    string // shown in the usage after the list of commands
	commands []command
}

// isHelp reports whether arg asks a level for its usage.
func isHelp(arg string) bool {
	switch arg {
	case "help", "-h", "--help", "-help":
		return true
	}
	return false
}

// maxSynopsis is the widest synopsis kept on one line with its summary;
// a wider one gets its summary on the next line.
const maxSynopsis = 24

// usage is the level's usage text, generated from its table.
func (t commandTable) usage() string {
	width := 0
	for _, c := range t.commands {
		if n := len(c.synopsis()); n <= maxSynopsis {
			width = max(width, n)
		}
		width = max(width, len(c.name))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Usage: %s <command> [flags]\n\nCommands:\n", t.path)
	for _, c := range t.commands {
		if s := c.synopsis(); len(s) > width {
			fmt.Fprintf(&b, "  %s\n  %*s  %s\n", s, width, "", c.summary)
		} else {
			fmt.Fprintf(&b, "  %-*s  %s\n", width, s, c.summary)
		}
	}
	if t.about != "" {
		b.WriteString("\n" + t.about)
	}
	fmt.Fprintf(&b, "\nRun \"%s <command> -h\" for a command's flags.\n", t.path)
	return b.String()
}

// errorf returns an error about this level, named after it below the top
// ("keys: unknown command ...").
func (t commandTable) errorf(format string, args ...any) error {
	if level := strings.TrimSpace(strings.TrimPrefix(t.path, "custodian")); level != "" {
		format = level + ": " + format
	}
	return fmt.Errorf(format, args...)
}

// lookup finds the command named name, or one of its aliases.
func (t commandTable) lookup(name string) (command, bool) {
	for _, c := range t.commands {
		if c.name == name || slices.Contains(c.aliases, name) {
			return c, true
		}
	}
	return command{}, false
}

// dispatch runs the command that args name with the arguments after its
// name. Asked for help, it prints the usage on standard output; given no
// command or an unknown one, it prints the usage on standard error and
// fails.
func (t commandTable) dispatch(ctx context.Context, proc *process, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(proc.stderr, t.usage())
		return t.errorf("no command given")
	}
	name, rest := args[0], args[1:]
	if isHelp(name) {
		fmt.Fprint(proc.stdout, t.usage())
		return nil
	}
	c, ok := t.lookup(name)
	if !ok {
		fmt.Fprint(proc.stderr, t.usage())
		return t.errorf("unknown command %q", name)
	}
	if !c.server {
		ctx = custodian.WithActor(ctx, custodian.ActorCLI)
	}
	return c.run(ctx, proc, rest)
}

// run is the whole program: it runs the command args name (args[0] is the
// program's name) and returns its error. It reads the environment only
// through getenv.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	proc := &process{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) > 0 {
		args = args[1:]
	}
	return programCommands().dispatch(ctx, proc, args)
}

// programCommands are the program's own commands.
func programCommands() commandTable {
	return commandTable{
		path: "custodian",
		about: `Every flag can also be set in the environment as CUSTODIAN_<FLAG> (for
example CUSTODIAN_DATA_DIR) or in a JSON file given with --config; a flag on
the command line wins over the environment, which wins over the file. Every
command that needs the keyring takes --master-key-file.
`,
		commands: []command{
			{name: "serve", summary: "run the server (SQLite under ./data unless --database-url is set)", server: true, run: runServe},
			{name: "migrate", summary: "apply pending database migrations and print the schema version", run: runMigrate},
			{name: "user", summary: "create and manage accounts: user create --email E --role R --password-stdin", run: userCommands().dispatch},
			{name: "token", summary: "issue a personal access token: token create --email E --name N", run: tokenCommands().dispatch},
			{name: "keys", summary: "master keys: status, rotate (online re-wrapping), retire", run: keysCommands().dispatch},
			{name: "settings", summary: "security settings kept in the database: --require-2fa-roles admin", run: runSettings},
			{name: "audit", summary: "the audit trail: verify its chain, print its head as an anchor", run: auditCommands().dispatch},
			{name: "consent", summary: "show or record a customer's consent: consent --customer ID [--for P --state given]", run: runConsent},
			{name: "hold", summary: "set or lift a legal hold: hold --customer ID --reason R [--lift]", run: runHold},
			{name: "erase", summary: "erase a customer's personal data for good: erase --customer ID --reason R", run: runErase},
			{name: "export", summary: "everything held about a customer, as JSON: export --customer ID [--out F]", run: runExport},
			{name: "import", args: "FILE", summary: "import customers from a CSV file: import FILE [--dry-run] [--duplicates skip|fill|overwrite]", run: runImport},
			{name: "export-list", summary: "the customers a list selects, as CSV or JSON Lines: export-list [--format jsonl] [--tag T]", run: runExportList},
			{name: "processing", summary: "who has seen a customer's data: processing --customer ID", run: runProcessing},
			{name: "retention", summary: "apply the retention policy: retention run [--dry-run]", run: retentionCommands().dispatch},
			{name: "backup", args: "[--out FILE] | verify FILE", summary: "take a consistent backup while the server runs, or check one", run: runBackup},
			{name: "restore", args: "[--force] FILE", summary: "restore a backup into an empty data directory or database, keeping erasures", run: runRestore},
			{name: "check", summary: "validate the configuration; with --deploy, list insecure settings", run: runCheck},
			{name: "version", summary: "print the version", aliases: []string{"--version", "-version"}, run: runVersion},
		},
	}
}

// runVersion prints the version the binary was built as: the release
// (set with -ldflags, else the module's version), the commit it was built
// from and that commit's time, as the build information embedded by the
// Go toolchain records them.
func runVersion(_ context.Context, proc *process, _ []string) error {
	info, _ := debug.ReadBuildInfo()
	fmt.Fprint(proc.stdout, describeBuild(version, commit, buildTime, info))
	return nil
}

// describeBuild is runVersion's text for the release name release, the
// commit and build time given at link time (empty when not given) and the
// build information info (nil when the binary has none).
func describeBuild(release, linkedCommit, linkedTime string, info *debug.BuildInfo) string {
	module, goVersion := "unknown", "unknown"
	settings := map[string]string{}
	if info != nil {
		goVersion = info.GoVersion
		if info.Main.Version != "" {
			module = info.Main.Path + " " + info.Main.Version
			if release == "dev" && info.Main.Version != "(devel)" {
				release = info.Main.Version
			}
		}
		for _, s := range info.Settings {
			settings[s.Key] = s.Value
		}
	}
	rev, built := "unknown", "unknown"
	if c := settings["vcs.revision"]; c != "" {
		rev = c
		if settings["vcs.modified"] == "true" {
			rev += " (with uncommitted changes)"
		}
	}
	if t := settings["vcs.time"]; t != "" {
		built = t + " (time of the commit)"
	}
	if linkedCommit != "" {
		rev = linkedCommit
	}
	if linkedTime != "" {
		built = linkedTime
	}
	return fmt.Sprintf("custodian %s\nmodule: %s\ncommit: %s\nbuilt: %s\ngo: %s\n", release, module, rev, built, goVersion)
}
