package edge

import (
	"net/http"
	"strings"
)

// Probes returns middleware that answers vulnerability-scanner probes (see
// IsProbe) as cheaply as possible: 404, empty body, Connection: close, and
// the handler chain behind it never runs. onProbe, when not nil, is called
// once per probe after the response is written, so the attack detector can
// count the client as scanning; it runs on the request goroutine and should
// return quickly.
func Probes(onProbe func(r *http.Request)) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !IsProbe(r) {
				next.ServeHTTP(w, r)
				return
			}
			h := w.Header()
			h.Set("Connection", "close")
			h.Set("Content-Length", "0")
			w.WriteHeader(http.StatusNotFound)
			if onProbe != nil {
				onProbe(r)
			}
		})
	}
}

// IsProbe reports whether r asks for a path that no Custodian route serves
// and that vulnerability scanners try: server-side script extensions (.php,
// .asp, .aspx, .jsp, .cgi, ...), WordPress, phpMyAdmin and cgi-bin paths,
// dotfiles and backups (.env, .git, .svn, .htaccess, .sql, .bak, ...), and
// path traversal: "..", an encoded dot (%2e), double encoding (%252e,
// %252f, %255c), overlong UTF-8 (%c0, %c1), backslashes (raw or %5c) and NUL
// bytes (raw or %00). Both the decoded path and the raw request target are
// checked, case-insensitively; the query string is not. The check is one
// allocation-free pass over each.
func IsProbe(r *http.Request) bool {
	var decoded string
	if r.URL != nil {
		decoded = r.URL.Path
		if isProbePath(decoded) {
			return true
		}
	}
	raw := rawRequestPath(r)
	return raw != decoded && isProbePath(raw)
}

// rawRequestPath returns the path of the request target as the client sent
// it, without the query.
func rawRequestPath(r *http.Request) string {
	uri := r.RequestURI
	if uri == "" || uri[0] != '/' {
		// Client-side requests, absolute-form targets and "*": fall back
		// to the URL's own raw path when it differs from the decoded one.
		if r.URL == nil {
			return ""
		}
		return r.URL.RawPath
	}
	if i := strings.IndexByte(uri, '?'); i >= 0 {
		uri = uri[:i]
	}
	return uri
}

// probeStart marks the bytes at which a probe pattern can begin. It is a
// read-only table.
var probeStart = [256]bool{'.': true, '%': true, '/': true, '\\': true, 0: true}

// isProbePath scans p once, looking only at the bytes that can start a
// probe pattern: '.', '%', '/', '\\' and NUL.
func isProbePath(p string) bool {
	for i := 0; i < len(p); i++ {
		if !probeStart[p[i]] {
			continue
		}
		switch p[i] {
		case '\\', 0:
			return true
		case '%':
			if encodedProbe(p[i+1:]) {
				return true
			}
		case '.':
			if i+1 < len(p) && p[i+1] == '.' {
				return true
			}
			if probeExtension(p[i+1:]) {
				return true
			}
		case '/':
			if probeSegment(p[i+1:]) {
				return true
			}
		}
	}
	return false
}

// encodedProbe inspects the two hex digits after a '%'.
func encodedProbe(s string) bool {
	if len(s) < 2 {
		return false
	}
	a, b := lower(s[0]), lower(s[1])
	switch {
	case a == '2' && b == 'e', // encoded '.': never needed in a real path
		a == '5' && b == 'c',               // encoded '\\'
		a == '0' && b == '0',               // encoded NUL
		a == 'c' && (b == '0' || b == '1'): // overlong UTF-8 for '.', '/', '\\'
		return true
	case a == '2' && b == '5': // "%25xx": double encoding of one of the above
		if len(s) < 4 {
			return false
		}
		c, d := lower(s[2]), lower(s[3])
		return (c == '2' && (d == 'e' || d == 'f')) || (c == '5' && d == 'c') || (c == '0' && d == '0')
	}
	return false
}

// maxExtension is the length of the longest name in probeExtensions.
const maxExtension = 8

// probeExtension reports whether the word that follows a '.' is a
// server-side script extension or a dotfile or backup name scanners look
// for. The word ends at the first byte that is not a letter, digit or '_',
// so ".env", ".env.local", "config.php.bak" and ".git/config" all match
// while ".well-known", "app.js" and ".environment" do not.
func probeExtension(s string) bool {
	var buf [maxExtension]byte
	n := 0
	for n < len(s) && isWordByte(s[n]) {
		if n == maxExtension {
			return false
		}
		buf[n] = lower(s[n])
		n++
	}
	switch string(buf[:n]) {
	case "php", "php3", "php4", "php5", "php7", "phtml", "phar", "phps",
		"asp", "aspx", "ashx", "asmx", "axd",
		"jsp", "jspx", "jspa", "cgi", "cfm",
		"env", "git", "svn", "hg", "bzr", "htaccess", "htpasswd", "ds_store",
		"sql", "bak", "swp", "ini", "aws", "ssh":
		return true
	}
	return false
}

// probeSegment reports whether the path segment starting at s names a
// third-party application scanners hunt for.
func probeSegment(s string) bool {
	if len(s) < 3 {
		return false
	}
	switch lower(s[0]) {
	case 'w':
		return hasPrefixFold(s, "wp-") || hasPrefixFold(s, "wordpress")
	case 'p':
		return hasPrefixFold(s, "phpmyadmin") || hasPrefixFold(s, "phpunit")
	case 'c':
		return hasPrefixFold(s, "cgi-bin")
	}
	return false
}

// hasPrefixFold is an ASCII case-insensitive strings.HasPrefix; prefix must
// be lower case.
func hasPrefixFold(s, prefix string) bool {
	if len(s) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		if lower(s[i]) != prefix[i] {
			return false
		}
	}
	return true
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}

func isWordByte(c byte) bool {
	return ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') || c == '_'
}
