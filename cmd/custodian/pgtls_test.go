package main

import (
	"context"
	"crypto/x509"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/custodian-crm/custodian/internal/testcert"
	"github.com/custodian-crm/custodian/internal/testdb"
)

// TestPostgresOverVerifiedTLS runs the commands and the server against a
// private PostgreSQL server that accepts only TLS connections with a
// client certificate ("hostssl ... cert"), with a server certificate from
// a test authority for "localhost": custodian connects with
// sslmode=verify-full and a client certificate, and is refused with
// another authority, a host name the certificate does not name, no client
// certificate or one from another authority, or no TLS.
func TestPostgresOverVerifiedTLS(t *testing.T) {
	ca := testcert.NewCA(t, 1, "Custodian test authority")
	server := ca.Issue(t, 2, x509.ExtKeyUsageServerAuth, "localhost")
	pg := testdb.StartPrivatePostgres(t, testdb.PrivateOptions{
		Files: map[string][]byte{"server.crt": server.CertPEM, "server.key": server.KeyPEM, "clients.crt": ca.CertPEM},
		Settings: []string{"ssl = on", "ssl_cert_file = 'server.crt'", "ssl_key_file = 'server.key'",
			"ssl_ca_file = 'clients.crt'", "ssl_min_protocol_version = 'TLSv1.2'"},
		// The user is the client certificate's common name.
		HBA: "hostssl all custodian 127.0.0.1/32 cert\n",
	})
	pg.Exec(t, "CREATE ROLE custodian LOGIN", "CREATE DATABASE custodian OWNER custodian")

	// What an operator installs beside the server, the key readable by
	// its user alone.
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	client := ca.Issue(t, 3, x509.ExtKeyUsageClientAuth, "custodian")
	rootCert := write("root.crt", ca.CertPEM)
	other := testcert.NewCA(t, 4, "Another authority")
	otherCA := write("other.crt", other.CertPEM)
	stranger := other.Issue(t, 5, x509.ExtKeyUsageClientAuth, "custodian")
	strangerCert, strangerKey := write("stranger.crt", stranger.CertPEM), write("stranger.key", stranger.KeyPEM)
	clientCert, clientKey := write("custodian.crt", client.CertPEM), write("custodian.key", client.KeyPEM)

	dbURL := func(host string, params map[string]string) string {
		q := url.Values{}
		for k, v := range params {
			q.Set(k, v)
		}
		return fmt.Sprintf("postgres://custodian@%s:%d/custodian?%s", host, pg.Port, q.Encode())
	}
	verified := map[string]string{"sslmode": "verify-full", "sslrootcert": rootCert, "sslcert": clientCert, "sslkey": clientKey}
	good := dbURL("localhost", verified)

	refused := []struct {
		name, url, want string
	}{
		{"an authority that did not sign the server's certificate",
			dbURL("localhost", map[string]string{"sslmode": "verify-full", "sslrootcert": otherCA, "sslcert": clientCert, "sslkey": clientKey}),
			"certificate signed by unknown authority"},
		{"a host name the certificate does not name", dbURL("127.0.0.1", verified), "cannot validate certificate for 127.0.0.1"},
		{"no client certificate", dbURL("localhost", map[string]string{"sslmode": "verify-full", "sslrootcert": rootCert}), "connection requires a valid client certificate"},
		{"a client certificate from another authority",
			dbURL("localhost", map[string]string{"sslmode": "verify-full", "sslrootcert": rootCert, "sslcert": strangerCert, "sslkey": strangerKey}),
			"connection requires a valid client certificate"},
		{"no TLS", dbURL("localhost", map[string]string{"sslmode": "disable"}), "no encryption"},
	}
	for _, tc := range refused {
		t.Run("refused: "+tc.name, func(t *testing.T) {
			_, errs, err := runCmd(t, map[string]string{"CUSTODIAN_DATABASE_URL": tc.url}, "migrate")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("migrate: %v, want an error saying %q\n%s", err, tc.want, errs)
			}
			t.Logf("refused: %v", err)
			if strings.Contains(err.Error()+errs, "custodian.key") {
				t.Fatalf("the error names the key file: %v", err)
			}
		})
	}

	t.Run("verify-full with a client certificate: migrate, commands and serve", func(t *testing.T) {
		vars := map[string]string{"CUSTODIAN_DATABASE_URL": good, "CUSTODIAN_MASTER_KEY": newTestKeyring(t), "CUSTODIAN_DATA_DIR": t.TempDir()}
		if out, errs, err := runCmd(t, vars, "migrate"); err != nil || !strings.Contains(out, "postgres schema at version") {
			t.Fatalf("migrate over verified TLS: %v\n%s%s", err, out, errs)
		}
		token := adminToken(t, vars)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		base, done, logs := startServer(t, ctx, vars)
		// The connection that listens for other instances' changes is
		// made from the same URL.
		waitForLog(t, logs, "listening for account changes")
		if code, body := request(t, "POST", base+"/api/customers/", `{"name":"Over TLS","email":"tls@example.com"}`, "Authorization", "Bearer "+token); code != 201 {
			t.Fatalf("create over verified TLS: %d %s", code, body)
		}
		if code, body := request(t, "GET", base+"/readyz", ""); code != 200 {
			t.Fatalf("readyz: %d %s", code, body)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("serve: %v\n%s", err, logs)
		}
		// The server saw a verified client certificate on every
		// connection: its rule allows no other.
		if out, errs, err := runCmd(t, vars, "audit", "verify"); err != nil {
			t.Fatalf("audit verify: %v\n%s%s", err, out, errs)
		}
	})
}
