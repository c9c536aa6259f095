package edge

import (
	"bytes"
	"context"
	"crypto/tls"
	"log"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// Defaults used by NewHTTPServer and LimitURL for zero configuration values.
const (
	// DefaultReadHeaderTimeout bounds how long a client may take to send
	// the request line and headers (and, over TLS, the handshake); it is
	// what defeats slow-loris clients, together with the per-address cap
	// of LimitConnsPerAddr. A real client sends its headers in one round
	// trip.
	DefaultReadHeaderTimeout = 3 * time.Second
	// DefaultReadTimeout bounds reading the whole request, body included.
	DefaultReadTimeout = 30 * time.Second
	// DefaultWriteTimeout bounds writing the response.
	DefaultWriteTimeout = 60 * time.Second
	// DefaultIdleTimeout bounds how long a keep-alive connection may wait
	// for its next request: long enough to reuse a connection between the
	// clicks of one page, short enough not to hold idle connections.
	DefaultIdleTimeout = 30 * time.Second
	// DefaultMaxHeaderBytes bounds the request line plus headers.
	DefaultMaxHeaderBytes = 64 << 10
	// DefaultMaxURL is the request-target length LimitURL allows when
	// given a non-positive limit.
	DefaultMaxURL = 8 << 10
)

// LimitURL returns middleware that answers 414 URI Too Long, and closes the
// connection, when the request target is longer than max bytes (max <= 0
// means DefaultMaxURL). Oversized targets are never legitimate here and are
// a common vector for buffer-abuse and log-flooding.
func LimitURL(max int) func(http.Handler) http.Handler {
	if max <= 0 {
		max = DefaultMaxURL
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n := len(r.RequestURI)
			if n == 0 && r.URL != nil {
				n = len(r.URL.RequestURI())
			}
			if n > max {
				w.Header().Set("Connection", "close")
				http.Error(w, http.StatusText(http.StatusRequestURITooLong), http.StatusRequestURITooLong)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// ServerConfig configures NewHTTPServer. Zero durations and sizes take the
// Default* constants of this package.
type ServerConfig struct {
	// Addr is the listen address, such as ":8443".
	Addr string
	// TLSConfig, usually TLSSetup.Config, makes the server speak HTTPS
	// when started with ListenAndServeTLS("", "") or ServeTLS(l, "", "").
	TLSConfig *tls.Config
	// ReadHeaderTimeout, ReadTimeout, WriteTimeout and IdleTimeout are
	// passed to http.Server.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	// MaxHeaderBytes is passed to http.Server.
	MaxHeaderBytes int
	// Logger receives the server's internal errors (TLS handshake
	// failures, panics in handlers) at Warn level with client addresses
	// redacted. Nil means slog.Default().
	Logger *slog.Logger
}

// NewHTTPServer returns an *http.Server for h with timeouts and a header
// size limit that stop slow-loris and slow-read clients, and with its
// error log routed to slog.
func NewHTTPServer(h http.Handler, cfg ServerConfig) *http.Server {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	return &http.Server{
		Addr:              cfg.Addr,
		Handler:           h,
		TLSConfig:         cfg.TLSConfig,
		ReadHeaderTimeout: orDuration(cfg.ReadHeaderTimeout, DefaultReadHeaderTimeout),
		ReadTimeout:       orDuration(cfg.ReadTimeout, DefaultReadTimeout),
		WriteTimeout:      orDuration(cfg.WriteTimeout, DefaultWriteTimeout),
		IdleTimeout:       orDuration(cfg.IdleTimeout, DefaultIdleTimeout),
		MaxHeaderBytes:    orInt(cfg.MaxHeaderBytes, DefaultMaxHeaderBytes),
		ErrorLog:          log.New(&slogWriter{logger: logger}, "", 0),
	}
}

func orDuration(v, def time.Duration) time.Duration {
	if v <= 0 {
		return def
	}
	return v
}

func orInt(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

// slogWriter adapts the *log.Logger that http.Server requires to slog,
// replacing IP addresses (client addresses are personal data) with a
// placeholder.
type slogWriter struct {
	logger *slog.Logger
}

func (w *slogWriter) Write(p []byte) (int, error) {
	msg := redactAddrs(string(bytes.TrimRight(p, "\n")))
	w.logger.Log(context.Background(), slog.LevelWarn, msg, slog.String("component", "http.Server"))
	return len(p), nil
}

// redactAddrs replaces every IPv4 or IPv6 address in msg, with or without
// a port, by "[addr]". Candidates are maximal runs of hex digits, dots,
// colons and brackets, so "a:b" forms such as "1.2.3.4:80->5.6.7.8:9" and
// trailing punctuation ("from 1.2.3.4:5:") are handled.
func redactAddrs(msg string) string {
	var b strings.Builder
	last := 0
	for i := 0; i < len(msg); {
		if !isAddrByte(msg[i]) {
			i++
			continue
		}
		j := i
		for j < len(msg) && isAddrByte(msg[j]) {
			j++
		}
		core := strings.TrimRight(msg[i:j], ":.")
		if isAddrText(core) {
			if b.Len() == 0 {
				b.Grow(len(msg))
			}
			b.WriteString(msg[last:i])
			b.WriteString("[addr]")
			last = i + len(core)
		}
		i = j
	}
	if last == 0 {
		return msg
	}
	b.WriteString(msg[last:])
	return b.String()
}

func isAddrByte(c byte) bool {
	return ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F') ||
		c == '.' || c == ':' || c == '[' || c == ']'
}

func isAddrText(s string) bool {
	if _, err := netip.ParseAddrPort(s); err == nil {
		return true
	}
	_, err := netip.ParseAddr(s)
	return err == nil
}
