package edge_test

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/custodian-crm/custodian/edge"
)

// Example shows the intended wiring: the edge chain around the
// application, the hardened HTTPS server, and the plain-HTTP port that
// redirects (and answers ACME challenges when certificates are automatic).
// It is compiled, not run.
func Example() {
	logger := slog.Default()
	proxies, err := edge.ParseTrustedProxies([]string{"10.0.0.0/8", "fd00::/8"})
	if err != nil {
		logger.Error("bad --trusted-proxies", slog.Any("error", err))
		os.Exit(2)
	}
	setup, err := edge.TLSConfig(edge.TLSOptions{
		CertFile: "/etc/custodian/tls/cert.pem",
		KeyFile:  "/etc/custodian/tls/key.pem",
		Logger:   logger,
	})
	if err != nil {
		logger.Error("TLS setup", slog.Any("error", err))
		os.Exit(2)
	}

	app := http.NewServeMux()
	headers := edge.SecurityHeaders(edge.HeaderConfig{ReportPath: "/csp-report"})
	onProbe := func(r *http.Request) {
		_ = edge.ClientAddrFrom(r.Context()) // hand to the attack detector
	}
	handler := edge.ClientInfo(proxies)(headers(edge.LimitURL(edge.DefaultMaxURL)(edge.Probes(onProbe)(app))))

	httpsSrv := edge.NewHTTPServer(handler, edge.ServerConfig{Addr: ":443", TLSConfig: setup.Config, Logger: logger})
	plainSrv := edge.NewHTTPServer(headers(setup.HTTPHandler(443)), edge.ServerConfig{Addr: ":80", Logger: logger})

	go func() {
		if err := plainSrv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("plain HTTP listener", slog.Any("error", err))
		}
	}()
	if err := httpsSrv.ListenAndServeTLS("", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
		logger.Error("HTTPS listener", slog.Any("error", err))
	}
}

func ExampleIsProbe() {
	for _, target := range []string{"/api/customers/cus_abc/", "/static/app.js", "/wp-login.php", "/static/%2e%2e/etc/passwd"} {
		fmt.Println(target, edge.IsProbe(httptest.NewRequest(http.MethodGet, target, nil)))
	}
	// Output:
	// /api/customers/cus_abc/ false
	// /static/app.js false
	// /wp-login.php true
	// /static/%2e%2e/etc/passwd true
}
