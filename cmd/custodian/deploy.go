package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/accounts"

	"github.com/custodian-crm/custodian/crypto"
	"github.com/custodian-crm/custodian/sqlite"
)

// minSecretLen is the shortest database or Redis password accepted in
// production.
const minSecretLen = 16

// severity says whether a finding stops a production start.
type severity string

// The severities of a finding.
const (
	sevError   severity = "error"
	sevWarning severity = "warning"
)

// finding is one insecure setting: a stable id documented in
// docs/security/deploy-checks.md, what is wrong, and how to fix it. The
// text never contains a secret.
type finding struct {
	ID       string
	Severity severity
	Problem  string
	Fix      string
}

// String is the finding's line: id, severity, problem and fix.
func (f finding) String() string {
	return fmt.Sprintf("%s %s: %s Fix: %s", f.ID, f.Severity, f.Problem, f.Fix)
}

// deployChecks judges the settings serve would run with, resolved, as a
// production deployment.
func deployChecks(s *serveSettings) []finding {
	var out []finding
	add := func(id string, sev severity, problem, fix string) {
		out = append(out, finding{ID: id, Severity: sev, Problem: problem, Fix: fix})
	}

	if !s.tls() && s.proxies == nil {
		add("C001", sevError, "the server speaks plain HTTP and no trusted proxy terminates TLS, so traffic, session cookies and HSTS are unprotected.",
			"set --tls-cert and --tls-key, or --acme-host, or put a TLS-terminating proxy in front and list it in --trusted-proxies.")
	}
	if len(*s.allowedHosts) == 0 {
		add("C002", sevError, "--allowed-hosts is empty, so requests for any Host are answered.",
			"set --allowed-hosts to the host names clients use, e.g. --allowed-hosts crm.example.com.")
	}

	envKey := s.keys.envKeyring
	devKeyring := filepath.Join(*s.storage.dataDir, crypto.DevKeyringName)
	switch {
	case envKey == "" && *s.keys.file == "":
		add("C003", sevError, "no keyring is configured, so the development keyring in the data directory would be used.",
			"create a keyring outside the data directory and set --master-key-file (CUSTODIAN_MASTER_KEY_FILE) or CUSTODIAN_MASTER_KEY.")
	case *s.keys.file != "" && samePath(*s.keys.file, devKeyring):
		add("C003", sevError, "--master-key-file is the development keyring in the data directory, next to the data it protects.",
			"move the keyring outside the data directory and point --master-key-file (CUSTODIAN_MASTER_KEY_FILE) at it.")
	}

	out = append(out, secretFindings(s, envKey)...)
	out = append(out, permissionFindings(s)...)

	if s.level < 0 { // slog.LevelDebug and below
		add("C006", sevError, "--log-level is debug, which logs more detail than production needs.",
			"set --log-level info (or warn).")
	}
	if *s.metricsAddr != "" && *s.metricsTokenFile == "" && !loopback(*s.metricsAddr) {
		add("C007", sevError, "--metrics-addr listens on a non-loopback address without a token, so anyone who reaches it reads the metrics.",
			"bind --metrics-addr to 127.0.0.1 or set --metrics-token-file.")
	}
	if *s.pprofAddr != "" && *s.pprofTokenFile == "" && !loopback(*s.pprofAddr) {
		add("C011", sevError, "--pprof-addr listens on a non-loopback address without a token, so anyone who reaches it can profile the server and read its goroutine dumps (serve refuses to start so).",
			"bind --pprof-addr to 127.0.0.1 (reach it over SSH), set --pprof-token-file, or leave --pprof-addr empty.")
	}
	if len(*s.acmeHosts) > 0 && *s.acmeEmail == "" {
		add("C008", sevWarning, "automatic certificates have no contact address, so expiry and revocation notices reach nobody.",
			"set --acme-email.")
	}
	if *s.ops.anchorInterval == 0 || *s.ops.anchorFile == "" {
		add("C013", sevWarning, "the audit trail's head is published to no file outside the database (--anchor-file is empty or --anchor-interval is 0), so newest events cut off from the trail would go unnoticed unless its logs are kept.",
			"set --anchor-file to a file outside the data directory, on another disk, shipped off the host, and verify with custodian audit verify --anchor-file (see docs/operations.md).")
	}
	// Erasure destroys a customer's shred key so that no copy of the
	// database, backups included, can be read again: a shred store that
	// travels with the database or its directory breaks that promise, so
	// production refuses it.
	shred := *s.storage.shredStore
	switch {
	case shred == "" && *s.storage.databaseURL != "", shred != "" && *s.storage.databaseURL != "" && sameDatabase(shred, *s.storage.databaseURL):
		add("C010", sevError, "the shred keys are kept in the customer database, so its backups could still decrypt customers erased after they were taken, breaking the erase promise.",
			"set --shred-store to a postgres:// URL of another database (or a file on another volume), back it up separately and keep those backups for a shorter time (see docs/privacy.md).")
	case shred == "" || (!strings.Contains(shred, "://") && insideDir(shred, *s.storage.dataDir)):
		add("C010", sevError, "the shred key store is inside the data directory, so a backup of the directory could still decrypt customers erased after it was taken, breaking the erase promise.",
			"set --shred-store to a file outside the data directory (for example /var/lib/custodian-keys/shred.db), back it up separately and keep those backups for a shorter time (see docs/privacy.md).")
	}
	return out
}

// sameDatabase reports whether two PostgreSQL URLs name the same
// database on the same server (whatever their users, passwords and
// options).
func sameDatabase(a, b string) bool {
	ua, err1 := url.Parse(a)
	ub, err2 := url.Parse(b)
	if err1 != nil || err2 != nil {
		return a == b
	}
	port := func(u *url.URL) string {
		if p := u.Port(); p != "" {
			return p
		}
		return "5432"
	}
	return strings.EqualFold(ua.Hostname(), ub.Hostname()) && port(ua) == port(ub) && strings.Trim(ua.Path, "/") == strings.Trim(ub.Path, "/")
}

// insideDir reports whether path lies in dir (or is dir).
func insideDir(path, dir string) bool {
	p, err1 := filepath.Abs(path)
	d, err2 := filepath.Abs(dir)
	if err1 != nil || err2 != nil {
		return false
	}
	rel, err := filepath.Rel(d, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// secretFindings reports C004: passwords shorter than minSecretLen and
// keyrings whose keys are not 32 bytes.
func secretFindings(s *serveSettings, envKey string) []finding {
	var out []finding
	weak := func(what string) {
		out = append(out, finding{ID: "C004", Severity: sevError,
			Problem: what + " is shorter than " + fmt.Sprint(minSecretLen) + " characters.",
			Fix:     "use a random password of at least " + fmt.Sprint(minSecretLen) + " characters (e.g. openssl rand -base64 24)."})
	}
	if pw, ok := urlPassword(*s.storage.databaseURL); ok && len(pw) < minSecretLen {
		weak("the database password")
	}
	if pw, ok := urlPassword(*s.redisURL); ok && len(pw) < minSecretLen {
		weak("the Redis password")
	}
	var keyring []byte
	var source string
	switch {
	case envKey != "":
		keyring, source = []byte(envKey), "CUSTODIAN_MASTER_KEY"
	case *s.keys.file != "":
		b, err := os.ReadFile(*s.keys.file)
		if err != nil {
			out = append(out, finding{ID: "C004", Severity: sevError,
				Problem: "the keyring file cannot be read: " + errText(err) + ".",
				Fix:     "check the --master-key-file path and that the service user can read it."})
			return out
		}
		keyring, source = b, "the keyring file"
	}
	if keyring != nil {
		if _, err := crypto.ParseKeyring(keyring); err != nil {
			out = append(out, finding{ID: "C004", Severity: sevError,
				Problem: source + " is not a valid keyring (every key must be 32 random bytes): " + err.Error() + ".",
				Fix:     "generate a new keyring (a first run of custodian serve writes one) and keep it outside the data directory."})
		}
	}
	return out
}

// permissionFindings reports C005: secret files, the database file and the
// data directory that the group or others can access.
func permissionFindings(s *serveSettings) []finding {
	var out []finding
	check := func(what, path string) {
		if path == "" {
			return
		}
		fi, err := os.Stat(path)
		if errors.Is(err, fs.ErrNotExist) || err != nil {
			return // created with owner-only modes, or reported elsewhere
		}
		if fi.Mode().Perm()&0o077 != 0 {
			out = append(out, finding{ID: "C005", Severity: sevError,
				Problem: fmt.Sprintf("%s %s has mode %04o: group or others can access it.", what, path, fi.Mode().Perm()),
				Fix:     fmt.Sprintf("chmod %s %s, owned by the service user.", map[bool]string{true: "700", false: "600"}[fi.IsDir()], path)})
		}
	}
	check("the keyring file", *s.keys.file)
	check("the TLS key file", *s.tlsKey)
	check("the database URL file", *s.storage.databaseURLFile)
	check("the Redis URL file", *s.redisURLFile)
	check("the metrics token file", *s.metricsTokenFile)
	check("the pprof token file", *s.pprofTokenFile)
	if *s.storage.databaseURL == "" {
		check("the data directory", *s.storage.dataDir)
		check("the database file", filepath.Join(*s.storage.dataDir, sqlite.FileName))
	}
	return out
}

// urlPassword returns the password of a URL, or of a key=value connection
// string, and whether it has one.
func urlPassword(raw string) (string, bool) {
	if raw == "" {
		return "", false
	}
	if u, err := url.Parse(raw); err == nil && u.Scheme != "" {
		if pw, ok := u.User.Password(); ok {
			return pw, true
		}
		if pw := u.Query().Get("password"); pw != "" {
			return pw, true
		}
		return "", false
	}
	for _, field := range strings.Fields(raw) {
		if v, ok := strings.CutPrefix(field, "password="); ok {
			return strings.Trim(v, "'"), true
		}
	}
	return "", false
}

// loopback reports whether a listen address binds only the loopback
// interface. An empty host binds every interface.
func loopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil || host == "" {
		return false
	}
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// samePath reports whether two paths name the same file.
func samePath(a, b string) bool {
	aa, err1 := filepath.Abs(a)
	bb, err2 := filepath.Abs(b)
	return err1 == nil && err2 == nil && aa == bb
}

// errText describes err without the path it may repeat.
func errText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// hasErrors reports whether any finding is error-level.
func hasErrors(fs []finding) bool {
	for _, f := range fs {
		if f.Severity == sevError {
			return true
		}
	}
	return false
}

// accountChecks judges the security settings kept in the database.
func accountChecks(ctx context.Context, acc *accounts.Service) ([]finding, error) {
	roles, err := acc.RequiredTOTPRoles(ctx)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(roles, custodian.RoleAdmin) {
		return []finding{{ID: "C009", Severity: sevError,
			Problem: "two-factor authentication is not required for administrators.",
			Fix:     "run `custodian settings --require-2fa-roles admin` (or PUT /api/settings/ as an administrator)."}}, nil
	}
	return nil, nil
}
