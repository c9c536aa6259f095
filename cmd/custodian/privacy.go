package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/customers"
)

// privacyFlags are the data-protection settings: the consent purposes and
// the retention policy, shared by serve and the shell commands.
type privacyFlags struct {
	purposes     *listFlag
	retention    *int
	statusDays   *listFlag
	interval     *time.Duration
	readDays     *int
	policy       custodian.RetentionPolicy
	purposeNames []string
}

// addPrivacyFlags defines the data-protection flags on fs.
func addPrivacyFlags(fs *flag.FlagSet) *privacyFlags {
	return &privacyFlags{
		purposes:   listVar(fs, "consent-purposes", "purposes consent is recorded for (default "+strings.Join(custodian.DefaultConsentPurposes, ",")+")"),
		retention:  fs.Int("retention-days", int(custodian.DefaultRetention/(24*time.Hour)), "days a customer is kept after its last activity (creation, update or consent change); 0 keeps customers forever (env CUSTODIAN_RETENTION_DAYS)"),
		statusDays: listVar(fs, "retention-status-days", "retention per status as status=days, e.g. lead=365 (0 keeps that status forever)"),
		interval:   fs.Duration("retention-interval", 24*time.Hour, "how often serve runs the retention job; 0 turns it off (env CUSTODIAN_RETENTION_INTERVAL)"),
		readDays:   fs.Int("read-retention", 730, "days records of reads are kept in the read log, apart from change records; the retention job removes older ones. 0 keeps them forever (env CUSTODIAN_READ_RETENTION)"),
	}
}

// resolve validates the settings and builds the policy.
func (p *privacyFlags) resolve() error {
	p.purposeNames = custodian.DefaultConsentPurposes
	if len(*p.purposes) > 0 {
		p.purposeNames = nil
		for _, name := range *p.purposes {
			if !custodian.ValidPurposeName(name) {
				return fmt.Errorf("%w: --consent-purposes: %q is not a purpose name (lower-case letters, digits and _, starting with a letter)", ErrConfig, name)
			}
			p.purposeNames = append(p.purposeNames, name)
		}
	}
	if *p.retention < 0 || *p.interval < 0 || *p.readDays < 0 {
		return fmt.Errorf("%w: --retention-days, --retention-interval and --read-retention must not be negative", ErrConfig)
	}
	p.policy = custodian.RetentionPolicy{Default: time.Duration(*p.retention) * 24 * time.Hour, ByStatus: map[custodian.Status]time.Duration{}}
	for _, item := range *p.statusDays {
		st, days, ok := strings.Cut(item, "=")
		n, err := strconv.Atoi(days)
		if !ok || !custodian.Status(st).Valid() || err != nil || n < 0 {
			return fmt.Errorf("%w: --retention-status-days: %q is not status=days with a status of lead, active or inactive", ErrConfig, item)
		}
		p.policy.ByStatus[custodian.Status(st)] = time.Duration(n) * 24 * time.Hour
	}
	return nil
}

// readRetention is how long read records are kept (0: forever).
func (p *privacyFlags) readRetention() time.Duration {
	return time.Duration(*p.readDays) * 24 * time.Hour
}

// describe says what the policy keeps, for logs and summaries.
func (p *privacyFlags) describe() string {
	var parts []string
	for _, st := range []custodian.Status{custodian.StatusLead, custodian.StatusActive, custodian.StatusInactive} {
		d := p.policy.Period(st)
		if d == 0 {
			parts = append(parts, string(st)+" forever")
		} else {
			parts = append(parts, fmt.Sprintf("%s %d days", st, d/(24*time.Hour)))
		}
	}
	return strings.Join(parts, ", ")
}

// privacyCommandFlags are the flags of the data-protection commands: the
// application's, the data-protection settings and, for the commands about
// one customer, that customer.
type privacyCommandFlags struct {
	*appFlags
	privacy  *privacyFlags
	customer *customerFlags // nil for retention run
}

// addPrivacyCommandFlags defines the application's and the
// data-protection flags on fs; the command adds its customer flags.
func addPrivacyCommandFlags(fs *flag.FlagSet) *privacyCommandFlags {
	return &privacyCommandFlags{appFlags: addAppFlags(fs), privacy: addPrivacyFlags(fs)}
}

// parse parses and checks the command's flags (after the command has
// defined its own). It treats -h as success.
func (f *privacyCommandFlags) parse(fs *flag.FlagSet, args []string, getenv func(string) string) (help bool, err error) {
	if help, err := f.appFlags.parse(fs, args, getenv); help || err != nil {
		return help, err
	}
	if err := f.privacy.resolve(); err != nil {
		return false, err
	}
	if f.customer != nil && !custodian.ValidCustomerID(*f.customer.id) {
		return false, errors.New("--customer must be a customer id (cus_ and 26 characters)")
	}
	return false, nil
}

// config is the configuration openApp opens the application from, with
// the customer service recording consent for the configured purposes.
func (f *privacyCommandFlags) config() appConfig {
	cfg := f.appFlags.config()
	cfg.customers = customers.Options{ConsentPurposes: f.privacy.purposeNames}
	return cfg
}

// run parses the command's flags (after the command has defined its
// own), opens the application with the customer service and runs use
// with it and ctx acting as --as for the reason --purpose gives, where the
// command has them; then it closes the application. It treats -h as
// success, running nothing.
func (f *privacyCommandFlags) run(ctx context.Context, proc *process, fs *flag.FlagSet, args []string, use func(ctx context.Context, a *app) error) error {
	if help, err := f.parse(fs, args, proc.getenv); help || err != nil {
		return err
	}
	return withApp(ctx, f.config(), func(a *app) error {
		if f.customer == nil {
			return use(ctx, a)
		}
		ctx, err := f.customer.actor(ctx, a)
		if err == nil {
			ctx, err = f.customer.withPurpose(ctx)
		}
		if err != nil {
			return err
		}
		return use(ctx, a)
	}, generateDevKeyring, withCustomers)
}

// newCustomerCommand returns the flag set of the data-protection command
// name, about one customer, with its flags: the application's, the
// data-protection settings, --customer, --as and --purpose.
func newCustomerCommand(name string, proc *process) (*flag.FlagSet, *privacyCommandFlags) {
	fs := newFlagSet(name, proc.stderr)
	flags := addPrivacyCommandFlags(fs)
	flags.customer = addCustomerFlags(fs)
	return fs, flags
}

// customerFlags name the customer a data-protection command acts on and,
// for the commands that change or disclose it, who acts and why.
type customerFlags struct {
	id      *string
	as      *string // nil for the commands without --as
	purpose *string // nil for the commands without --purpose
}

// addCustomerFlags defines --customer, --as and --purpose on fs.
func addCustomerFlags(fs *flag.FlagSet) *customerFlags {
	return &customerFlags{
		id:      fs.String("customer", "", "the customer's id"),
		as:      fs.String("as", "", "email of the user to record as the actor (default "+custodian.ActorCLI+")"),
		purpose: fs.String("purpose", "", "why, recorded with the audit event (like the Custodian-Purpose header)"),
	}
}

// actor returns ctx acting as the user --as names, when it names one;
// otherwise changes stay recorded as the shell's (custodian.ActorCLI).
func (c *customerFlags) actor(ctx context.Context, a *app) (context.Context, error) {
	if c.as == nil || *c.as == "" {
		return ctx, nil
	}
	u, err := a.store.UserByEmail(ctx, strings.ToLower(strings.TrimSpace(*c.as)))
	if err != nil {
		return nil, fmt.Errorf("--as: no user with that email: %w", err)
	}
	return custodian.WithActor(ctx, u.ID), nil
}

// withPurpose validates --purpose, when the command has it, and carries
// it in ctx.
func (c *customerFlags) withPurpose(ctx context.Context) (context.Context, error) {
	if c.purpose == nil || *c.purpose == "" {
		return ctx, nil
	}
	purpose := *c.purpose
	if !custodian.PrintableText(purpose, custodian.MaxPurposeHeaderLen) {
		return nil, fmt.Errorf("--purpose must be printable text of at most %d characters", custodian.MaxPurposeHeaderLen)
	}
	return custodian.WithPurpose(ctx, purpose), nil
}

// runExport writes everything held about one customer as JSON.
func runExport(ctx context.Context, proc *process, args []string) error {
	fs, flags := newCustomerCommand("export", proc)
	out := fs.String("out", "", "write the export to this file (mode 0600) instead of standard output")
	return flags.run(ctx, proc, fs, args, func(ctx context.Context, a *app) error {
		customer := *flags.customer.id
		x, err := a.customers.ExportCustomer(ctx, customer)
		if err != nil {
			return err
		}
		b, err := json.MarshalIndent(x, "", "  ")
		if err != nil {
			return err
		}
		b = append(b, '\n')
		if *out == "" {
			_, err = proc.stdout.Write(b)
			return err
		}
		if err := os.WriteFile(*out, b, 0o600); err != nil { // #nosec G306 -- 0600 is owner-only
			return fmt.Errorf("export: %w", err)
		}
		fmt.Fprintf(proc.stderr, "wrote the export of %s (%d audit events) to %s\n", customer, len(x.AuditEvents), *out)
		return nil
	})
}

// runProcessing prints who has seen a customer's data: every read,
// export and erasure, oldest first.
func runProcessing(ctx context.Context, proc *process, args []string) error {
	stdout := proc.stdout
	fs := newFlagSet("processing", proc.stderr)
	flags := addPrivacyCommandFlags(fs)
	flags.customer = &customerFlags{id: fs.String("customer", "", "the customer's id")}
	return flags.run(ctx, proc, fs, args, func(ctx context.Context, a *app) error {
		customer := flags.customer.id
		events, err := a.customers.AccessLog(ctx, *customer)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%-27s %-30s %-16s %s\n", "TIME", "ACTOR", "ACTION", "PURPOSE")
		for _, e := range events {
			var d custodian.AccessData
			_ = json.Unmarshal(e.Data, &d) // events without data have no purpose
			fmt.Fprintf(stdout, "%-27s %-30s %-16s %s\n", e.Time.Format(time.RFC3339Nano), e.Actor, e.Action, d.Purpose)
		}
		fmt.Fprintf(stdout, "%d accesses to %s\n", len(events), *customer)
		return nil
	})
}

// runErase erases one customer, as POST /api/customers/{id}/erase/ does.
func runErase(ctx context.Context, proc *process, args []string) error {
	stdout := proc.stdout
	fs, flags := newCustomerCommand("erase", proc)
	reason := fs.String("reason", "", "why the customer is erased (required; recorded, so no personal data)")
	return flags.run(ctx, proc, fs, args, func(ctx context.Context, a *app) error {
		t, again, err := a.customers.EraseCustomer(ctx, *flags.customer.id, *reason)
		if err != nil {
			return err
		}
		if again {
			fmt.Fprintf(stdout, "%s was already erased on %s (reason %q); nothing changed\n", t.ID, t.ErasedAt.Format(time.RFC3339), t.Reason)
			return nil
		}
		fmt.Fprintf(stdout, "erased %s: its data key is destroyed, so no copy of the database can be decrypted for it any more\n", t.ID)
		return nil
	})
}

// runConsent shows a customer's consent, or records a change with --for
// and --state.
func runConsent(ctx context.Context, proc *process, args []string) error {
	stdout := proc.stdout
	fs, flags := newCustomerCommand("consent", proc)
	name := fs.String("for", "", "the consent purpose to record a change for (one of --consent-purposes)")
	state := fs.String("state", "", "given or withdrawn")
	source := fs.String("source", "", "where the consent came from")
	evidence := fs.String("evidence", "", "evidence, such as the wording agreed to")
	return flags.run(ctx, proc, fs, args, func(ctx context.Context, a *app) error {
		customer := flags.customer.id
		if *name != "" || *state != "" {
			ev, err := a.customers.RecordConsent(ctx, *customer, custodian.ConsentInput{Purpose: *name, State: *state, Source: *source, Evidence: *evidence})
			if err != nil {
				return describe(err)
			}
			fmt.Fprintf(stdout, "recorded: %s %s for %s\n", ev.Purpose, ev.State, *customer)
		}
		cs, err := a.customers.Consents(ctx, *customer)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%-20s %-10s %-27s %s\n", "PURPOSE", "STATE", "SINCE", "BY")
		for _, purpose := range a.customers.ConsentPurposes() {
			if c, ok := cs.Current[purpose]; ok {
				fmt.Fprintf(stdout, "%-20s %-10s %-27s %s\n", purpose, c.State, c.Since.Format(time.RFC3339Nano), c.By)
			} else {
				fmt.Fprintf(stdout, "%-20s %-10s\n", purpose, "never")
			}
		}
		return nil
	})
}

// runHold sets or lifts a legal hold.
func runHold(ctx context.Context, proc *process, args []string) error {
	fs, flags := newCustomerCommand("hold", proc)
	reason := fs.String("reason", "", "why (required; recorded, so no personal data)")
	lift := fs.Bool("lift", false, "lift the hold instead of setting it")
	return flags.run(ctx, proc, fs, args, func(ctx context.Context, a *app) error {
		customer := *flags.customer.id
		if _, err := a.customers.SetLegalHold(ctx, customer, !*lift, *reason); err != nil {
			return describe(err)
		}
		if *lift {
			fmt.Fprintf(proc.stdout, "lifted the legal hold on %s\n", customer)
		} else {
			fmt.Fprintf(proc.stdout, "%s is under a legal hold: retention, erasure and deletion are suspended\n", customer)
		}
		return nil
	})
}

// retentionCommands are the retention commands.
func retentionCommands() commandTable {
	return commandTable{
		path: "custodian retention",
		about: `run lists the customers past their retention period (--retention-days after
their last activity, or --retention-status-days for their status; customers
under a legal hold are never due), then anonymizes them one by one: the same
erasure as POST /api/customers/{id}/erase/, with reason "retention". Each
customer is erased in its own transaction that re-checks it, so the command
is safe beside running servers; interrupted, it leaves every customer either
erased or untouched, and a new run continues.
`,
		commands: []command{
			{name: "run", args: "[--dry-run]", summary: "apply the retention policy: anonymize the customers that are due", run: runRetention},
		},
	}
}

// runRetention applies the retention policy from a shell ("retention
// run").
func runRetention(ctx context.Context, proc *process, args []string) error {
	stdout, stderr := proc.stdout, proc.stderr
	fs := newFlagSet("retention run", stderr)
	flags := addPrivacyCommandFlags(fs)
	dry := fs.Bool("dry-run", false, "list the customers that are due and change nothing")
	limit := fs.Int("limit", 0, "handle at most this many customers (0: all)")
	return flags.run(ctx, proc, fs, args, func(ctx context.Context, a *app) error {
		policy := flags.privacy
		fmt.Fprintf(stdout, "retention policy: %s after the last activity\n", policy.describe())
		bar := newProgress(stderr)
		res, err := a.customers.RunRetention(custodian.WithActor(ctx, customers.RetentionActor), customers.RetentionOptions{
			Policy: policy.policy, DryRun: *dry, Limit: *limit, ReadRetention: policy.readRetention(),
			OnProgress: func(p customers.RetentionProgress) {
				bar.updateCount("retention", "customers anonymized", int64(p.Done), int64(p.Total), p.Elapsed)
			},
		})
		bar.finish()
		for _, c := range res.Candidates {
			fmt.Fprintf(stdout, "due: %s %-8s last activity %s\n", c.ID, c.Status, c.Activity.Format(time.DateOnly))
		}
		if res.KeysFinished > 0 {
			fmt.Fprintf(stdout, "destroyed %d data keys left from earlier erasures\n", res.KeysFinished)
		}
		if res.ReadsPurged > 0 {
			fmt.Fprintf(stdout, "removed %d read records older than %d days (--read-retention)\n", res.ReadsPurged, *policy.readDays)
		}
		if *dry {
			fmt.Fprintf(stdout, "dry run: %d customers are due; nothing was changed\n", len(res.Candidates))
			return err
		}
		fmt.Fprintf(stdout, "anonymized %d of %d due customers in %v (%d skipped: changed, put on hold or erased meanwhile)\n",
			res.Anonymized, len(res.Candidates), res.Elapsed.Round(time.Millisecond), res.Skipped)
		if err != nil && ctx.Err() != nil {
			fmt.Fprintln(stdout, "interrupted: every customer is either fully anonymized or untouched; run \"custodian retention run\" again to continue.")
		}
		return err
	})
}

// startRetention runs the retention job inside the server, on the
// instance holding the job lease: at start and then every interval, until
// ctx ends or the returned function is called, which waits for a run in
// progress to stop between customers.
func startRetention(ctx context.Context, svc *customers.Service, p *privacyFlags, lease custodian.JobLease, logger *slog.Logger) func() {
	if *p.interval == 0 {
		logger.Info("the retention job is off (--retention-interval 0)")
		return func() {}
	}
	ctx = custodian.WithActor(ctx, customers.RetentionActor)
	stop := startJob(ctx, "retention", *p.interval, lease, logger, func(ctx context.Context) {
		res, err := svc.RunRetention(ctx, customers.RetentionOptions{Policy: p.policy, ReadRetention: p.readRetention()})
		switch {
		case err != nil && ctx.Err() != nil:
		case err != nil:
			logger.Error("retention run failed; the next run continues", "err", err, "anonymized", res.Anonymized)
		case len(res.Candidates) > 0 || res.KeysFinished > 0 || res.ReadsPurged > 0:
			logger.Info("retention run", "due", len(res.Candidates), "anonymized", res.Anonymized, "skipped", res.Skipped, "keys_finished", res.KeysFinished, "reads_purged", res.ReadsPurged)
		}
	})
	logger.Info("retention job started", "interval", p.interval.String(), "policy", p.describe())
	return stop
}
