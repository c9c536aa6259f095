package edge

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// ErrTLSConfig is returned, wrapped, by TLSConfig for options that do not
// describe exactly one usable certificate source.
var ErrTLSConfig = errors.New("edge: invalid TLS options")

// DefaultReloadInterval is how often, at most, the certificate files are
// checked for changes when TLSOptions.ReloadInterval is zero.
const DefaultReloadInterval = 10 * time.Second

// modernCipherSuites are the TLS 1.2 suites allowed: ECDHE key exchange
// (forward secrecy) with an AEAD cipher. CBC suites (Lucky13, padding
// oracles) and static-RSA key exchange (no forward secrecy, ROBOT) are
// excluded. TLS 1.3 suites are not configurable and all modern.
var modernCipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// keyExchanges lists the key exchanges allowed, X25519 and its
// post-quantum hybrid first. Go applies its own preference order to the
// members of this list; that order also puts the X25519 family first.
var keyExchanges = []tls.CurveID{
	tls.X25519MLKEM768,
	tls.X25519,
	tls.SecP256r1MLKEM768,
	tls.CurveP256,
	tls.CurveP384,
}

// TLSOptions chooses where certificates come from: either CertFile and
// KeyFile, or AutocertHosts with AutocertCacheDir, never both.
type TLSOptions struct {
	// CertFile and KeyFile are PEM files (the --tls-cert and --tls-key
	// flags). They are re-read when their modification time or size
	// changes, so a renewed certificate is served without a restart.
	CertFile string
	KeyFile  string
	// ReloadInterval is the minimum time between two checks of the files;
	// zero means DefaultReloadInterval.
	ReloadInterval time.Duration

	// AutocertHosts enables automatic certificates from an ACME CA (Let's
	// Encrypt unless AutocertDirectoryURL says otherwise) for exactly these
	// host names.
	AutocertHosts []string
	// AutocertCacheDir holds the ACME account key and certificates. It is
	// created, or restricted, with mode 0700. Required with AutocertHosts.
	AutocertCacheDir string
	// AutocertEmail is the optional contact address given to the CA.
	AutocertEmail string
	// AutocertDirectoryURL overrides the ACME directory, for example to
	// use a staging CA.
	AutocertDirectoryURL string

	// Logger receives certificate reload notices. Nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock used to rate-limit file checks. Nil means time.Now.
	Now func() time.Time
}

// TLSSetup is the TLS configuration built by TLSConfig.
type TLSSetup struct {
	// Config is the server's TLS configuration; pass it to
	// ServerConfig.TLSConfig.
	Config *tls.Config
	// Manager is the ACME manager when certificates are automatic, nil
	// otherwise.
	Manager *autocert.Manager

	hosts []string // the automatic-certificate host names, for redirects
	certs *certReloader
}

// Hosts returns the host names the server's certificates are for, to which
// the plain-HTTP port may redirect: the automatic certificates' host names,
// or the DNS names of the certificate file (wildcards left out). It is
// empty when the certificate names none.
func (s *TLSSetup) Hosts() []string {
	if s == nil {
		return nil
	}
	if len(s.hosts) > 0 || s.certs == nil {
		return slices.Clone(s.hosts)
	}
	s.certs.mu.Lock()
	c := s.certs.cert
	s.certs.mu.Unlock()
	if c == nil {
		return nil
	}
	leaf := c.Leaf
	if leaf == nil {
		var err error
		if leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return nil
		}
	}
	var out []string
	for _, n := range leaf.DNSNames {
		if !strings.Contains(n, "*") && validHostName(n) {
			out = append(out, n)
		}
	}
	return out
}

// TLSConfig builds a server TLS configuration with TLS 1.2 as the minimum,
// only ECDHE+AEAD cipher suites for TLS 1.2, X25519 first, HTTP/2 enabled,
// and certificates from the source described by opts.
func TLSConfig(opts TLSOptions) (*TLSSetup, error) {
	files := opts.CertFile != "" || opts.KeyFile != ""
	auto := len(opts.AutocertHosts) > 0
	switch {
	case files && auto:
		return nil, fmt.Errorf("%w: certificate files and automatic certificates are mutually exclusive", ErrTLSConfig)
	case !files && !auto:
		return nil, fmt.Errorf("%w: need certificate files or automatic certificate host names", ErrTLSConfig)
	case files && (opts.CertFile == "" || opts.KeyFile == ""):
		return nil, fmt.Errorf("%w: certificate and key files must be given together", ErrTLSConfig)
	}
	cfg := &tls.Config{
		MinVersion:       tls.VersionTLS12,
		CipherSuites:     append([]uint16(nil), modernCipherSuites...),
		CurvePreferences: append([]tls.CurveID(nil), keyExchanges...),
		NextProtos:       []string{"h2", "http/1.1"},
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	if files {
		rl, err := newCertReloader(opts, logger)
		if err != nil {
			return nil, err
		}
		cfg.GetCertificate = rl.getCertificate
		return &TLSSetup{Config: cfg, certs: rl}, nil
	}

	m, err := newAutocertManager(opts)
	if err != nil {
		return nil, err
	}
	cfg.GetCertificate = m.GetCertificate
	cfg.NextProtos = append(cfg.NextProtos, acme.ALPNProto) // tls-alpn-01 challenges
	return &TLSSetup{Config: cfg, Manager: m, hosts: slices.Clone(opts.AutocertHosts)}, nil
}

// newAutocertManager validates the ACME options and prepares the cache.
func newAutocertManager(opts TLSOptions) (*autocert.Manager, error) {
	for _, h := range opts.AutocertHosts {
		if !validHostName(h) {
			return nil, fmt.Errorf("%w: %q is not a host name", ErrTLSConfig, h)
		}
	}
	if opts.AutocertCacheDir == "" {
		return nil, fmt.Errorf("%w: automatic certificates need a cache directory", ErrTLSConfig)
	}
	if err := os.MkdirAll(opts.AutocertCacheDir, 0o700); err != nil {
		return nil, fmt.Errorf("edge: create certificate cache: %w", err)
	}
	// MkdirAll leaves an existing directory's mode alone; the cache holds
	// the account and certificate private keys.
	// #nosec G302 -- a directory needs the execute bit; 0700 is owner-only.
	if err := os.Chmod(opts.AutocertCacheDir, 0o700); err != nil {
		return nil, fmt.Errorf("edge: restrict certificate cache: %w", err)
	}
	m := &autocert.Manager{
		Prompt:     autocert.AcceptTOS,
		Cache:      autocert.DirCache(opts.AutocertCacheDir),
		HostPolicy: autocert.HostWhitelist(opts.AutocertHosts...),
		Email:      opts.AutocertEmail,
	}
	if opts.AutocertDirectoryURL != "" {
		m.Client = &acme.Client{DirectoryURL: opts.AutocertDirectoryURL}
	}
	return m, nil
}

// HTTPHandler returns the handler for the plain-HTTP port: it answers ACME
// http-01 challenges when certificates are automatic and redirects every
// other request to HTTPS on httpsPort, to one of the certificates' host
// names (see Hosts).
func (s *TLSSetup) HTTPHandler(httpsPort int) http.Handler {
	if s == nil || s.Manager == nil {
		return RedirectHTTPS(httpsPort, s.Hosts()...)
	}
	return s.Manager.HTTPHandler(RedirectHTTPS(httpsPort, s.hosts...))
}

// RedirectHTTPS returns a handler that sends every request to the same
// path over HTTPS on httpsPort (0 or 443 leave the port out), on one of
// hosts: 301 for GET and HEAD, 308 for other methods so that clients keep
// the method. A request for one of hosts keeps its host; any other is sent
// to hosts[0], the canonical name, so the Location never carries a host
// the request chose. Without hosts there is nowhere safe to send anyone:
// every request gets 400 (configure --allowed-hosts, or a certificate
// naming the server).
func RedirectHTTPS(httpsPort int, hosts ...string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(hosts) == 0 {
			http.Error(w, "This server has no configured host name to redirect to; use HTTPS.", http.StatusBadRequest)
			return
		}
		requested := r.Host
		if !knownHost(requested, hosts) {
			requested = hosts[0]
		}
		host, ok := redirectHost(requested, httpsPort)
		if !ok {
			http.Error(w, http.StatusText(http.StatusBadRequest), http.StatusBadRequest)
			return
		}
		code := http.StatusPermanentRedirect
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			code = http.StatusMovedPermanently
		}
		w.Header().Set("Connection", "close")
		// #nosec G710 -- the host is one of hosts, validated by
		// redirectHost; the target is always https on it.
		http.Redirect(w, r, "https://"+host+r.URL.RequestURI(), code)
	})
}

// knownHost reports whether the host part of hostport is one of hosts.
func knownHost(hostport string, hosts []string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	for _, h := range hosts {
		if strings.EqualFold(host, h) {
			return true
		}
	}
	return false
}

// redirectHost validates the request's Host and gives it the HTTPS port.
func redirectHost(hostport string, httpsPort int) (string, bool) {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	} else if len(host) > 1 && host[0] == '[' && host[len(host)-1] == ']' {
		host = host[1 : len(host)-1]
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if a.Zone() != "" {
			return "", false
		}
		host = a.String()
	} else if !validHostName(host) {
		return "", false
	}
	if httpsPort == 0 || httpsPort == 443 {
		if isIPv6Literal(host) {
			return "[" + host + "]", true
		}
		return host, true
	}
	return net.JoinHostPort(host, strconv.Itoa(httpsPort)), true
}

func isIPv6Literal(host string) bool {
	a, err := netip.ParseAddr(host)
	return err == nil && a.Is6()
}

// validHostName accepts DNS names made of letters, digits, hyphens and
// dots.
func validHostName(h string) bool {
	if h == "" || len(h) > 253 || h[0] == '.' || h[0] == '-' {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// fileStamp identifies one version of a file on disk.
type fileStamp struct {
	mod  time.Time
	size int64
}

func (s fileStamp) same(o fileStamp) bool {
	return s.size == o.size && s.mod.Equal(o.mod)
}

// certReloader serves a certificate from files and re-reads them, at most
// once per interval, when they change.
type certReloader struct {
	certFile, keyFile string
	interval          time.Duration
	now               func() time.Time
	logger            *slog.Logger

	mu        sync.Mutex
	cert      *tls.Certificate
	certStamp fileStamp
	keyStamp  fileStamp
	nextCheck time.Time
}

func newCertReloader(opts TLSOptions, logger *slog.Logger) (*certReloader, error) {
	rl := &certReloader{
		certFile: opts.CertFile,
		keyFile:  opts.KeyFile,
		interval: orDuration(opts.ReloadInterval, DefaultReloadInterval),
		now:      opts.Now,
		logger:   logger,
	}
	if rl.now == nil {
		rl.now = time.Now
	}
	cs, ks, err := rl.stamps()
	if err != nil {
		return nil, err
	}
	if err := rl.load(cs, ks); err != nil {
		return nil, err
	}
	rl.nextCheck = rl.now().Add(rl.interval)
	return rl, nil
}

// stamps reads the modification time and size of both files.
func (rl *certReloader) stamps() (fileStamp, fileStamp, error) {
	ci, err := os.Stat(rl.certFile)
	if err != nil {
		return fileStamp{}, fileStamp{}, fmt.Errorf("edge: TLS certificate file: %w", err)
	}
	ki, err := os.Stat(rl.keyFile)
	if err != nil {
		return fileStamp{}, fileStamp{}, fmt.Errorf("edge: TLS key file: %w", err)
	}
	return fileStamp{ci.ModTime(), ci.Size()}, fileStamp{ki.ModTime(), ki.Size()}, nil
}

// load parses the key pair and, on success, makes it current.
func (rl *certReloader) load(cs, ks fileStamp) error {
	cert, err := tls.LoadX509KeyPair(rl.certFile, rl.keyFile)
	if err != nil {
		return fmt.Errorf("edge: load TLS key pair: %w", err)
	}
	rl.cert, rl.certStamp, rl.keyStamp = &cert, cs, ks
	return nil
}

// getCertificate is the tls.Config.GetCertificate hook.
func (rl *certReloader) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	if now := rl.now(); !now.Before(rl.nextCheck) {
		rl.nextCheck = now.Add(rl.interval)
		rl.reloadIfChanged()
	}
	return rl.cert, nil
}

// reloadIfChanged re-reads the files when either changed. A failed load
// (for instance a renewal caught between writing the certificate and the
// key) keeps the current certificate and is retried at the next check,
// because the stored stamps are only updated on success.
func (rl *certReloader) reloadIfChanged() {
	cs, ks, err := rl.stamps()
	if err != nil {
		rl.logger.Warn("TLS certificate files unreadable; keeping the current certificate", slog.Any("error", err))
		return
	}
	if cs.same(rl.certStamp) && ks.same(rl.keyStamp) {
		return
	}
	if err := rl.load(cs, ks); err != nil {
		rl.logger.Warn("TLS certificate reload failed; keeping the current certificate", slog.Any("error", err))
		return
	}
	attrs := []any{}
	if leaf := rl.cert.Leaf; leaf != nil {
		attrs = append(attrs, slog.Time("not_after", leaf.NotAfter))
	}
	rl.logger.Info("TLS certificate reloaded", attrs...)
}
