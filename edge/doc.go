// Package edge holds the protections that sit at the network edge of the
// Custodian server: everything a request meets before it reaches
// application code, so that the server is safe to expose to the internet
// directly or to run behind a reverse proxy.
//
// # Client address and scheme
//
// [ParseTrustedProxies] reads the operator's list of reverse-proxy addresses
// and CIDR ranges. [TrustedProxies.ClientAddr] then derives the real client
// address: forwarding headers (X-Forwarded-For by default, or RFC 7239
// Forwarded when chosen with [WithProxyHeader]) are read only when the direct
// peer is a trusted proxy, and they are walked from the right, skipping
// trusted hops, so the first untrusted address is the client. The leftmost
// entry, which the client itself can forge, is used only when every hop to
// its right is trusted. A malformed entry ends the walk at the last good hop.
// Forwarded elements are split off from the right too, so nothing a client
// writes at the left, not even an unbalanced quote, changes how the
// proxies' own elements are read.
// [TrustedProxies.IsHTTPS] reports whether the client reached the edge over
// TLS, believing X-Forwarded-Proto / Forwarded proto= only from a trusted
// peer. The [ClientInfo] middleware resolves both once per request and
// stores them in the context for [ClientAddrFrom] and [IsHTTPSFrom]. A nil
// *TrustedProxies trusts nobody, which is the right setting when the server
// faces the internet directly.
//
// Only one forwarding header is read: a proxy that appends to
// X-Forwarded-For passes a client-supplied Forwarded header through
// untouched, so reading both would let the client choose its own address.
// Configure the proxy to append to (or overwrite) the header chosen here and
// to overwrite X-Forwarded-Proto.
//
// # Response hardening
//
// [SecurityHeaders] adds the OWASP Secure Headers set on every response that
// passes through it, error responses included: a strict
// Content-Security-Policy without 'unsafe-inline' or 'unsafe-eval',
// nosniff, frame denial, a strict referrer policy, a Permissions-Policy that
// denies every powerful browser feature, cross-origin isolation headers,
// Cache-Control: no-store (handlers serving static assets may replace it),
// and Strict-Transport-Security plus upgrade-insecure-requests when the
// request arrived over HTTPS. Headers a handler deletes are restored before
// the status line is written, Server and X-Powered-By are removed, and TRACE
// and TRACK are refused with 405.
//
// # Scanner probes
//
// [Probes] answers requests that can only come from vulnerability scanners
// (PHP, ASP, JSP and CGI paths, WordPress and phpMyAdmin paths, dotfiles such
// as .env, .git and .htaccess, path traversal in plain, encoded or
// double-encoded form, backslashes and NUL bytes) with an empty 404 and
// Connection: close (a GOAWAY on HTTP/2), and reports each one to a callback
// so the attack detector can count scanning. [IsProbe] makes the same
// decision in a single allocation-free pass over the path; normal API and
// asset paths, and /.well-known/, are not matched.
//
// # Bounds
//
// [LimitURL] refuses request targets longer than a limit with 414.
// [NewHTTPServer] builds an *http.Server whose header, read, write and idle
// timeouts and header-size limit stop slow-loris clients, and whose error log
// goes to slog at Warn level with client IP addresses replaced by "[addr]",
// because addresses are personal data.
//
// # TLS
//
// [TLSConfig] builds a *tls.Config that accepts TLS 1.2 with ECDHE and AEAD
// cipher suites only (no CBC, no RSA key exchange) and TLS 1.3, prefers
// X25519 (and its post-quantum hybrid), and takes certificates either from
// PEM files that are re-read when they change on disk, so certificate
// renewal needs no restart, or automatically from an ACME CA through
// golang.org/x/crypto/acme/autocert (tls-alpn-01 and http-01 challenges,
// cache directory kept at mode 0700). A certificate renewal caught half
// written keeps the current certificate until both files agree again.
// [RedirectHTTPS] and [TLSSetup.HTTPHandler] serve the plain-HTTP port: they
// redirect to HTTPS (301, or 308 for methods other than GET and HEAD), only
// ever to a validated host name, the configured ACME host names when there
// are some, and, with ACME, answer http-01 challenges first.
//
// # Order
//
// The intended middleware order, outermost first, is:
//
//	ClientInfo(tp) → SecurityHeaders(cfg) → LimitURL(n) → Probes(fn) → application
//
// ClientInfo runs first so that SecurityHeaders knows whether the request
// arrived over HTTPS and so that the probe callback can read the client
// address; SecurityHeaders wraps the rest so that refusals carry the
// headers too.
package edge
