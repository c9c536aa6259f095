package http

import (
	"net"
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
