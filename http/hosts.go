package http

import (
	"net"
	"net/http"
	"strings"
)

// codeBadHost is the error code of a request for a host the server does
// not serve.
const codeBadHost = "bad_host"

// HostAllowed reports whether the host part of hostport (a Host header) is
// in allowed: an exact name, compared without case and without a trailing
// dot, or ".example.com", which allows example.com and every subdomain of
// it. An empty list allows every host.
func HostAllowed(hostport string, allowed []string) bool {
	if len(allowed) == 0 {
		return true
	}
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	} else if len(host) > 1 && host[0] == '[' && host[len(host)-1] == ']' {
		host = host[1 : len(host)-1]
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if host == "" {
		return false
	}
	for _, a := range allowed {
		a = strings.ToLower(strings.TrimSuffix(a, "."))
		if a == host {
			return true
		}
		if strings.HasPrefix(a, ".") && (host == a[1:] || strings.HasSuffix(host, a)) {
			return true
		}
	}
	return false
}

// allowHosts refuses, with 400, requests whose Host header names a host the
// server does not serve, so that links the server builds from the Host and
// caches in front of it cannot be poisoned with an attacker's host name.
func allowHosts(allowed []string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if len(allowed) == 0 {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !HostAllowed(r.Host, allowed) {
				writeProblem(w, r, Problem{Status: http.StatusBadRequest, Code: codeBadHost, Detail: "This server does not serve the host named in the request."})
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
