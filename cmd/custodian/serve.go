package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/crypto"
	custhttp "github.com/custodian-crm/custodian/http"
	"github.com/custodian-crm/custodian/ratelimit"
	"github.com/custodian-crm/custodian/vault"
)

// shutdownTimeout bounds how long in-flight requests may take to finish
// after a stop signal.
const shutdownTimeout = 30 * time.Second

func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", stderr)
	addr := stringFlag(fs, getenv, "addr", "127.0.0.1:8080", "address to listen on")
	storage := addStorageFlags(fs, getenv)
	phoneRegion := stringFlag(fs, getenv, "phone-region", "", "ISO 3166-1 region assumed for phone numbers written without a country code; empty requires a country code")
	logLevel := stringFlag(fs, getenv, "log-level", "info", "debug, info, warn or error")
	production := fs.Bool("production", getenv("CUSTODIAN_ENV") == "production", "refuse insecure settings such as a development keyring (env CUSTODIAN_ENV=production)")
	if help, err := parse(fs, args); help || err != nil {
		return err
	}

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))

	a, source, keyPath, err := openApp(ctx, storage, getenv, *production)
	if err != nil {
		return err
	}
	defer a.store.Close()
	switch source {
	case crypto.SourceGenerated:
		logger.Warn("generated a development keyring; keep it safe and set CUSTODIAN_MASTER_KEY_FILE in production", "path", keyPath, "active_key", a.sealer.ActiveKeyID())
	default:
		logger.Info("keyring loaded", "source", string(source), "active_key", a.sealer.ActiveKeyID())
	}
	schema, latest, err := a.store.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	logger.Info("database ready", "backend", storage.backend(), "schema_version", schema, "latest", latest)

	validator := custodian.Validator{PhoneRegion: *phoneRegion}
	if _, err := validator.Normalize(custodian.CustomerFields{Name: "x", Phone: "+442079460958"}); err != nil && *phoneRegion != "" {
		return fmt.Errorf("--phone-region %q is not a region", *phoneRegion)
	}
	customers := vault.New(a.store, a.sealer, vault.Options{Validator: validator})
	signInLimit, err := ratelimit.NewLocal(ratelimit.Limit{Rate: 1, Burst: 3}, ratelimit.LocalConfig{})
	if err != nil {
		return err
	}
	handler := custhttp.NewServer(custhttp.Deps{Logger: logger, Customers: customers, DB: a.store, Accounts: a.accounts, SignInLimit: signInLimit})

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	logger.Info("listening", "addr", ln.Addr().String(), "version", version)
	// With no account yet, print a one-time link to create the first
	// administrator. It goes to standard output, never to the log.
	if tok, expires, err := a.accounts.SetupLink(ctx); err != nil {
		return err
	} else if tok != "" {
		fmt.Fprintf(stdout, "No users yet. Create the first administrator within %s at\n  http://%s/setup?token=%s\n(or POST it to /api/auth/setup/, or run: custodian user create --email E --role admin --password-stdin)\n",
			time.Until(expires).Round(time.Minute), ln.Addr().String(), tok)
	}

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down; finishing in-flight requests", "timeout", shutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	logger.Info("stopped")
	return nil
}
