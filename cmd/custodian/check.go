package main

import (
	"context"
	"errors"
	"fmt"
)

// ErrInsecure is returned, wrapped, when check --deploy or serve
// --production finds an error-level finding.
var ErrInsecure = errors.New("insecure deployment settings")

// runCheck validates the serve settings; with --deploy it also prints one
// line per insecure setting and fails when any is error-level.
func runCheck(ctx context.Context, proc *process, args []string) error {
	fs := newFlagSet("check", proc.stderr)
	s := addServeFlags(fs)
	deploy := fs.Bool("deploy", false, "also judge the settings as a production deployment (see docs/security/deploy-checks.md)")
	if help, err := s.parse(fs, args, proc.getenv); help || err != nil {
		return err
	}
	if !*deploy {
		// What serve refuses whether in production or not.
		if err := refuseExposedProfiles(s); err != nil {
			return err
		}
		fmt.Fprintln(proc.stdout, "configuration OK")
		return nil
	}
	findings := deployChecks(s)
	if !hasErrors(findings) {
		// Settings kept in the database: judged only when the keyring and
		// the database themselves pass, opened as a production start
		// would open them.
		cfg := s.appConfig()
		cfg.production = true
		err := withApp(ctx, cfg, func(a *app) error {
			more, err := accountChecks(ctx, a.accounts)
			findings = append(findings, more...)
			return err
		})
		if err != nil {
			return err
		}
	}
	for _, f := range findings {
		fmt.Fprintln(proc.stdout, f)
	}
	if hasErrors(findings) {
		return fmt.Errorf("%w: %d finding(s); see docs/security/deploy-checks.md", ErrInsecure, len(findings))
	}
	fmt.Fprintln(proc.stdout, "deploy checks passed")
	return nil
}
