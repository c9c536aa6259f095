package testdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/custodian-crm/custodian/internal/testnet"
)

// PrivatePostgres is a PostgreSQL server of a test's own, for what the
// shared test server's configuration must not be changed for (TLS, client
// certificates, pg_hba.conf rules). It is started from the machine's
// server binaries and removed when the test ends.
type PrivatePostgres struct {
	// Port is the TCP port it listens on at 127.0.0.1.
	Port int
	// Dir is its data directory.
	Dir string
	// socket is the directory of its Unix socket.
	socket string
}

// PrivateOptions configure a private server.
type PrivateOptions struct {
	// Files are written into the data directory before the server starts,
	// mode 0600 and owned by the server's user, such as its certificate,
	// its key and the authority it checks client certificates with.
	Files map[string][]byte
	// Settings are added to postgresql.conf, such as "ssl = on".
	Settings []string
	// HBA is pg_hba.conf's content for TCP connections. Connections
	// over the Unix socket are trusted, for Exec.
	HBA string
}

// StartPrivatePostgres initializes and starts a private PostgreSQL server
// with o, as the postgres operating system user when the test runs as
// root (the server refuses to run as root). It takes a few seconds. When
// the server binaries (/usr/lib/postgresql/*/bin) are missing the test is
// skipped, or fails under CI=true.
func StartPrivatePostgres(t testing.TB, o PrivateOptions) *PrivatePostgres {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		Unavailable(t, "the PostgreSQL server binaries", errors.New("no /usr/lib/postgresql/*/bin/initdb (install the postgresql package)"))
	}
	slices.SortFunc(bins, func(a, b string) int { return version(b) - version(a) })
	bin := filepath.Dir(bins[0])

	// As root, the server runs as the postgres user, which must own its
	// directory.
	var as *user.User
	if os.Geteuid() == 0 {
		var err error
		if as, err = user.Lookup("postgres"); err != nil {
			Unavailable(t, "the postgres operating system user", err)
		}
	}
	root, err := os.MkdirTemp("", "custodian-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	_, port, _ := net.SplitHostPort(testnet.FreeAddr(t))
	p := &PrivatePostgres{Dir: filepath.Join(root, "data"), socket: root}
	if p.Port, err = strconv.Atoi(port); err != nil {
		t.Fatal(err)
	}
	own := func(path string) {
		if as == nil {
			return
		}
		uid, _ := strconv.Atoi(as.Uid)
		gid, _ := strconv.Atoi(as.Gid)
		if err := os.Chown(path, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	own(root)
	run := func(name string, args ...string) {
		t.Helper()
		cmd := exec.Command(filepath.Join(bin, name), args...)
		if as != nil {
			cmd = exec.Command("runuser", append([]string{"-u", as.Username, "--", filepath.Join(bin, name)}, args...)...)
		}
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			log, _ := os.ReadFile(filepath.Join(root, "log"))
			t.Fatalf("%s %s: %v\n%s\n%s", name, strings.Join(args, " "), err, out, log)
		}
	}
	run("initdb", "-D", p.Dir, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale", "C", "--no-sync", "--no-instructions")
	for name, content := range o.Files {
		path := filepath.Join(p.Dir, name)
		if err := os.WriteFile(path, content, 0o600); err != nil {
			t.Fatal(err)
		}
		own(path)
	}
	conf := append([]string{
		"listen_addresses = '127.0.0.1'",
		"port = " + port,
		"unix_socket_directories = '" + root + "'",
		"fsync = off", "synchronous_commit = off", "full_page_writes = off",
		"shared_buffers = 16MB", "max_connections = 30",
	}, o.Settings...)
	appendFile(t, filepath.Join(p.Dir, "postgresql.conf"), strings.Join(conf, "\n")+"\n")
	if err := os.WriteFile(filepath.Join(p.Dir, "pg_hba.conf"), []byte("local all all trust\n"+o.HBA), 0o600); err != nil {
		t.Fatal(err)
	}
	run("pg_ctl", "-D", p.Dir, "-l", filepath.Join(root, "log"), "-w", "-t", "60", "start")
	t.Cleanup(func() { run("pg_ctl", "-D", p.Dir, "-m", "immediate", "-w", "stop") })
	return p
}

// version is the major version in a /usr/lib/postgresql/N/bin path.
func version(path string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(path))))
	return n
}

func appendFile(t testing.TB, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

// Exec runs statements as the superuser postgres, in database postgres,
// over the server's Unix socket.
func (p *PrivatePostgres) Exec(t testing.TB, statements ...string) {
	t.Helper()
	db, err := sql.Open("pgx", fmt.Sprintf("host=%s port=%d user=postgres dbname=postgres sslmode=disable", p.socket, p.Port))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, s := range statements {
		if _, err := db.ExecContext(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}
