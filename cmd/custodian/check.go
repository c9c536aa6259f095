package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/custodian-crm/custodian/crypto"
)

// ErrInsecure is returned, wrapped, when check --deploy or serve
// --production finds an error-level finding.
var ErrInsecure = errors.New("insecure deployment settings")

// runCheck validates the serve settings; with --deploy it also prints one
// line per insecure setting and fails when any is error-level.
func runCheck(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("check", stderr)
	s := addServeFlags(fs)
	deploy := fs.Bool("deploy", false, "also judge the settings as a production deployment (see docs/security/deploy-checks.md)")
	if help, err := parseConfig(fs, args, getenv); help || err != nil {
		return err
	}
	if err := s.resolve(); err != nil {
		return err
	}
	if !*deploy {
		fmt.Fprintln(stdout, "configuration OK")
		return nil
	}
	findings := deployChecks(s, getenv)
	if !hasErrors(findings) {
		// Settings kept in the database: judged only when the keyring and
		// the database themselves pass, as serve would open them.
		a, _, _, err := openApp(ctx, s.storage, crypto.LoadOptions{Env: getenv("CUSTODIAN_MASTER_KEY"), File: *s.masterKeyFile, DataDir: *s.storage.dataDir, Production: true})
		if err != nil {
			return err
		}
		more, err := accountChecks(ctx, a.accounts)
		a.store.Close()
		if err != nil {
			return err
		}
		findings = append(findings, more...)
	}
	for _, f := range findings {
		fmt.Fprintln(stdout, f)
	}
	if hasErrors(findings) {
		return fmt.Errorf("%w: %d finding(s); see docs/security/deploy-checks.md", ErrInsecure, len(findings))
	}
	fmt.Fprintln(stdout, "deploy checks passed")
	return nil
}
