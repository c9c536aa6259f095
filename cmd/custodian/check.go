package main

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// ErrInsecure is returned, wrapped, when check --deploy or serve
// --production finds an error-level finding.
var ErrInsecure = errors.New("insecure deployment settings")

// runCheck validates the serve settings; with --deploy it also prints one
// line per insecure setting and fails when any is error-level.
func runCheck(_ context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
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
	for _, f := range findings {
		fmt.Fprintln(stdout, f)
	}
	if hasErrors(findings) {
		return fmt.Errorf("%w: %d finding(s); see docs/security/deploy-checks.md", ErrInsecure, len(findings))
	}
	fmt.Fprintln(stdout, "deploy checks passed")
	return nil
}
