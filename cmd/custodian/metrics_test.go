package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/custodian-crm/custodian/internal/testnet"
)

func TestMetricsNeedTheirTokenAndCountRequests(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "metrics-token")
	if err := os.WriteFile(tokenFile, []byte("a-long-random-metrics-token-for-tests\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	metricsAddr := testnet.FreeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	base, done, _ := startServer(t, ctx, map[string]string{"CUSTODIAN_DATA_DIR": filepath.Join(dir, "data")},
		"--metrics-addr", metricsAddr, "--metrics-token-file", tokenFile)

	// Some traffic: a health check, a refused request and a failed sign-in.
	for _, r := range []struct{ method, path, body string }{
		{"GET", "/healthz", ""},
		{"GET", "/api/customers/", ""},
		{"POST", "/api/auth/login/", `{"email":"nobody@example.com","password":"not the right one"}`},
	} {
		request(t, r.method, base+r.path, r.body)
	}

	scrape := func(token string) (int, string) {
		var auth []string
		if token != "" {
			auth = []string{"Authorization", "Bearer " + token}
		}
		code, b := request(t, "GET", "http://"+metricsAddr+"/metrics", "", auth...)
		return code, string(b)
	}
	if code, _ := scrape(""); code != 401 {
		t.Fatalf("metrics without the token: %d", code)
	}
	if code, _ := scrape("wrong"); code != 401 {
		t.Fatalf("metrics with a wrong token: %d", code)
	}
	code, body := scrape("a-long-random-metrics-token-for-tests")
	if code != 200 {
		t.Fatalf("metrics: %d", code)
	}
	for _, want := range []string{
		`custodian_http_requests_total{code="2xx",method="GET",route="/healthz"} `, // the start-up wait polls it too
		`custodian_http_requests_total{code="4xx",method="GET",route="/api/customers/{$}"} 1`,
		`custodian_sign_in_failures_total 1`,
		`custodian_db_`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	// The metrics are not on the public listener.
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("public /metrics: %d", resp.StatusCode)
	}
	cancel()
	<-done
}
