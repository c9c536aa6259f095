package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/crypto"
	custhttp "github.com/custodian-crm/custodian/http"
	"github.com/custodian-crm/custodian/vault"
)

// shutdownTimeout bounds how long in-flight requests may take to finish
// after a stop signal.
const shutdownTimeout = 30 * time.Second

func runServe(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
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

	keyring, source, keyPath, err := crypto.LoadKeyring(crypto.LoadOptions{
		Env: getenv("CUSTODIAN_MASTER_KEY"), File: getenv("CUSTODIAN_MASTER_KEY_FILE"),
		DataDir: *storage.dataDir, Production: *production,
	})
	if err != nil {
		return fmt.Errorf("keyring: %w", err)
	}
	switch source {
	case crypto.SourceGenerated:
		logger.Warn("generated a development keyring; keep it safe and set CUSTODIAN_MASTER_KEY_FILE in production", "path", keyPath, "active_key", keyring.ActiveKeyID())
	default:
		logger.Info("keyring loaded", "source", string(source), "active_key", keyring.ActiveKeyID())
	}
	sealer, err := crypto.NewSealerFromSource(keyringReloader(getenv, source, keyPath, *production), 0)
	if err != nil {
		return fmt.Errorf("keyring: %w", err)
	}
	stopReload := reloadOnHangup(ctx, sealer, logger)
	defer stopReload()

	store, schema, err := storage.open(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	logger.Info("database ready", "backend", storage.backend(), "schema_version", schema)

	validator := custodian.Validator{PhoneRegion: *phoneRegion}
	if _, err := validator.Normalize(custodian.CustomerFields{Name: "x", Phone: "+442079460958"}); err != nil && *phoneRegion != "" {
		return fmt.Errorf("--phone-region %q is not a region", *phoneRegion)
	}
	customers := vault.New(store, sealer, vault.Options{Validator: validator})
	handler := custhttp.NewServer(custhttp.Deps{Logger: logger, Customers: customers, DB: store})

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

// reloadOnHangup rereads the keyring on SIGHUP, as after a key rotation or
// retirement, until ctx ends or the returned function is called.
func reloadOnHangup(ctx context.Context, sealer *crypto.Sealer, logger *slog.Logger) func() {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-hup:
				if err := sealer.Reload(); err != nil {
					logger.Error("keyring reload failed; keeping the keys in use", "err", err)
					continue
				}
				logger.Info("keyring reloaded", "active_key", sealer.ActiveKeyID())
			case <-ctx.Done():
				return
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		close(done)
	}
}
