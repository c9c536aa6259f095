package edge

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ErrBadHeaderConfig is returned, wrapped, by HeaderConfig.Validate.
var ErrBadHeaderConfig = errors.New("edge: invalid header configuration")

// DefaultHSTSMaxAge is the Strict-Transport-Security max-age used when
// HeaderConfig.HSTSMaxAge is zero: two years, as OWASP recommends.
const DefaultHSTSMaxAge = 2 * 365 * 24 * time.Hour

// contentSecurityPolicy allows only same-origin resources, plus data: images
// for inline QR codes; no inline script or style, no eval, no plugins, no
// framing, no <base> rewriting, and forms may only post back to the origin.
const contentSecurityPolicy = "default-src 'self'; img-src 'self' data:; object-src 'none'; " +
	"base-uri 'none'; frame-ancestors 'none'; form-action 'self'"

// permissionsPolicy denies every powerful browser feature the application
// has no use for. WebAuthn (publickey-credentials-*) is deliberately left at
// its same-origin default so that passkeys keep working.
const permissionsPolicy = "accelerometer=(), ambient-light-sensor=(), autoplay=(), battery=(), " +
	"bluetooth=(), browsing-topics=(), camera=(), clipboard-read=(), display-capture=(), " +
	"document-domain=(), encrypted-media=(), fullscreen=(), gamepad=(), geolocation=(), " +
	"gyroscope=(), hid=(), idle-detection=(), local-fonts=(), " +
	"magnetometer=(), microphone=(), midi=(), otp-credentials=(), payment=(), " +
	"picture-in-picture=(), screen-wake-lock=(), serial=(), speaker-selection=(), usb=(), " +
	"web-share=(), window-management=(), xr-spatial-tracking=()"

// allowedMethods is sent with the 405 that refuses TRACE and TRACK.
const allowedMethods = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"

// HeaderConfig configures SecurityHeaders. The zero value is a complete,
// strict configuration.
type HeaderConfig struct {
	// ReportPath, when set, is a same-origin path (such as "/csp-report")
	// to which browsers report Content-Security-Policy violations, through
	// both report-uri and Reporting-Endpoints/report-to.
	ReportPath string
	// HSTSMaxAge overrides the Strict-Transport-Security max-age; zero
	// means DefaultHSTSMaxAge.
	HSTSMaxAge time.Duration
	// HSTSPreload adds the preload directive. Only set it once the domain
	// is meant to be submitted to the browsers' preload list.
	HSTSPreload bool
}

// Validate reports a configuration that would produce a broken or
// injectable header.
func (c HeaderConfig) Validate() error {
	if c.ReportPath != "" {
		if !strings.HasPrefix(c.ReportPath, "/") || strings.HasPrefix(c.ReportPath, "//") {
			return fmt.Errorf("%w: report path must be an absolute same-origin path", ErrBadHeaderConfig)
		}
		for i := 0; i < len(c.ReportPath); i++ {
			ch := c.ReportPath[i]
			if ch <= ' ' || ch >= 0x7f || ch == ';' || ch == ',' || ch == '"' || ch == '\\' || ch == '\'' {
				return fmt.Errorf("%w: report path contains a character not allowed in a header", ErrBadHeaderConfig)
			}
		}
	}
	if c.HSTSMaxAge < 0 {
		return fmt.Errorf("%w: negative HSTS max-age", ErrBadHeaderConfig)
	}
	return nil
}

// headerSet is the precomputed header list for one configuration, one
// list for plain-HTTP requests and one for HTTPS requests.
type headerSet struct {
	plain [][2]string
	https [][2]string
}

func newHeaderSet(c HeaderConfig) headerSet {
	csp := contentSecurityPolicy
	if c.ReportPath != "" {
		csp += "; report-uri " + c.ReportPath + "; report-to csp"
	}
	maxAge := c.HSTSMaxAge
	if maxAge == 0 {
		maxAge = DefaultHSTSMaxAge
	}
	hsts := "max-age=" + strconv.FormatInt(int64(maxAge/time.Second), 10) + "; includeSubDomains"
	if c.HSTSPreload {
		hsts += "; preload"
	}
	always := [][2]string{
		{"X-Content-Type-Options", "nosniff"},
		{"X-Frame-Options", "DENY"},
		{"Referrer-Policy", "strict-origin-when-cross-origin"},
		{"Permissions-Policy", permissionsPolicy},
		{"Cross-Origin-Opener-Policy", "same-origin"},
		{"Cross-Origin-Resource-Policy", "same-origin"},
		{"Cross-Origin-Embedder-Policy", "require-corp"},
		{"X-Permitted-Cross-Domain-Policies", "none"},
		{"X-XSS-Protection", "0"},
		{"Cache-Control", "no-store"},
	}
	if c.ReportPath != "" {
		always = append(always, [2]string{"Reporting-Endpoints", `csp="` + c.ReportPath + `"`})
	}
	hs := headerSet{
		plain: append(slices.Clone(always), [2]string{"Content-Security-Policy", csp}),
		https: append(slices.Clone(always),
			[2]string{"Content-Security-Policy", csp + "; upgrade-insecure-requests"},
			[2]string{"Strict-Transport-Security", hsts}),
	}
	// apply indexes the header map directly, so keys must be canonical.
	for _, list := range [][][2]string{hs.plain, hs.https} {
		for i := range list {
			list[i][0] = http.CanonicalHeaderKey(list[i][0])
		}
	}
	return hs
}

// apply writes the headers into h. With overwrite false, only missing
// headers are added, which restores anything a handler deleted while
// keeping values it chose deliberately (such as a long Cache-Control for
// static assets). All values share one freshly allocated backing array, so
// no two responses share a slice.
func (s *headerSet) apply(h http.Header, https, overwrite bool) {
	list := s.plain
	if https {
		list = s.https
	}
	var backing []string
	for i, kv := range list {
		if !overwrite && len(h[kv[0]]) != 0 {
			continue
		}
		if backing == nil {
			backing = make([]string, len(list))
		}
		backing[i] = kv[1]
		h[kv[0]] = backing[i : i+1 : i+1]
	}
	delete(h, "Server")
	delete(h, "X-Powered-By")
}

// SecurityHeaders returns middleware that adds the OWASP Secure Headers set
// to every response, restores any of them a handler removed before the
// status line is written, strips Server and X-Powered-By, and refuses TRACE
// and TRACK with 405. Strict-Transport-Security and upgrade-insecure-requests
// are sent only when the request arrived over HTTPS (r.TLS, or IsHTTPSFrom
// when ClientInfo runs before it). It panics if cfg.Validate fails, because
// an invalid configuration is a programming error found at start-up.
func SecurityHeaders(cfg HeaderConfig) func(http.Handler) http.Handler {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	hs := newHeaderSet(cfg)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			https := requestIsHTTPS(r)
			hs.apply(w.Header(), https, true)
			if r.Method == http.MethodTrace || r.Method == "TRACK" {
				w.Header().Set("Allow", allowedMethods)
				w.Header().Set("Content-Length", "0")
				w.WriteHeader(http.StatusMethodNotAllowed)
				return
			}
			next.ServeHTTP(&headerWriter{ResponseWriter: w, hs: &hs, https: https}, r)
		})
	}
}

// headerWriter re-applies the security headers just before the status line
// goes out.
type headerWriter struct {
	http.ResponseWriter
	hs          *headerSet
	https       bool
	wroteHeader bool
}

func (w *headerWriter) WriteHeader(code int) {
	if !w.wroteHeader && code >= 200 {
		w.wroteHeader = true
		w.hs.apply(w.ResponseWriter.Header(), w.https, false)
	} else if code < 200 {
		// 1xx informational responses (103 Early Hints) carry the
		// headers set so far; make sure they are sanitised too.
		w.hs.apply(w.ResponseWriter.Header(), w.https, false)
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *headerWriter) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// ReadFrom keeps the underlying writer's sendfile/splice fast path for
// io.Copy and http.ServeContent.
func (w *headerWriter) ReadFrom(src io.Reader) (int64, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		return rf.ReadFrom(src)
	}
	return io.Copy(writerOnly{w.ResponseWriter}, src)
}

// writerOnly hides any ReadFrom method so io.Copy does not recurse.
type writerOnly struct{ io.Writer }

// Flush sends buffered data to the client, writing the header first.
func (w *headerWriter) Flush() {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the underlying writer (for
// Hijack, deadlines and full-duplex).
func (w *headerWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
