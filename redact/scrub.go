package redact

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Mask is the text that replaces a redacted attribute value.
const Mask = "[REDACTED]"

// minRun is the length from which a run of hex or base64 characters is
// treated as key material or a token.
const minRun = 32

// Value patterns. Each is applied only when a cheap pre-check finds its
// marker in the string, so ordinary text costs a single pass.
var (
	pemRe    = regexp.MustCompile(`-----BEGIN [A-Z0-9 ]+-----(?s:.*?)(?:-----END [A-Z0-9 ]+-----|$)`)
	bearerRe = regexp.MustCompile(`(?i)\b(bearer)\s+[A-Za-z0-9\-._~+/]{8,}=*`)
	basicRe  = regexp.MustCompile(`\b(Basic|BASIC)\s+[A-Za-z0-9+/]{8,}=*`)
	jwtRe    = regexp.MustCompile(`eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*`)
	tokenRe  = regexp.MustCompile(`cst_[A-Za-z0-9_\-]*`)
	emailRe  = regexp.MustCompile(`[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}`)
	phoneRe  = regexp.MustCompile(`\+[1-9](?:[ .\-]?[0-9]){6,14}`)
)

// Scrub masks secret-looking and personal substrings in free text and
// escapes characters that could forge or disguise a log line. It masks
// PEM blocks, Bearer and Basic credentials, JWTs, cst_ tokens, e-mail
// addresses, E.164 phone numbers and runs of 32 or more hex or base64
// characters; it escapes newlines, carriage returns, other control
// characters, Unicode line separators, bidi controls and invalid UTF-8.
// Text without any of these is returned unchanged without allocating.
func Scrub(s string) string {
	if !suspicious(s) {
		return s
	}
	if strings.Contains(s, "-----BEGIN ") {
		s = pemRe.ReplaceAllLiteralString(s, "[REDACTED PEM]")
	}
	if containsFold(s, "bearer") {
		s = bearerRe.ReplaceAllString(s, "$1 "+Mask)
	}
	if containsFold(s, "basic") {
		s = basicRe.ReplaceAllString(s, "$1 "+Mask)
	}
	if strings.Contains(s, "eyJ") {
		s = jwtRe.ReplaceAllLiteralString(s, "[REDACTED JWT]")
	}
	if strings.Contains(s, "cst_") {
		s = tokenRe.ReplaceAllLiteralString(s, "[REDACTED TOKEN]")
	}
	if strings.IndexByte(s, '@') >= 0 {
		s = emailRe.ReplaceAllLiteralString(s, "[REDACTED EMAIL]")
	}
	if strings.IndexByte(s, '+') >= 0 {
		s = phoneRe.ReplaceAllLiteralString(s, "[REDACTED PHONE]")
	}
	s = maskRuns(s)
	return escape(s)
}

// suspicious is the single-pass pre-check: it reports whether s contains
// any marker a pattern looks for, a long candidate run, or a character
// that needs escaping.
func suspicious(s string) bool {
	run := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf || c < 0x20 || c == 0x7f {
			return true
		}
		switch c {
		case '@', '+':
			return true
		case 'b', 'B':
			// bearer / basic
			if i+5 < len(s) && (containsFold(s[i:i+6], "bearer") || containsFold(s[i:i+5], "basic")) {
				return true
			}
		case '-':
			if strings.HasPrefix(s[i:], "-----BEGIN ") {
				return true
			}
		case 'e':
			if strings.HasPrefix(s[i:], "eyJ") {
				return true
			}
		case 'c':
			if strings.HasPrefix(s[i:], "cst_") {
				return true
			}
		}
		if isRunByte(c) {
			run++
			if run >= minRun {
				return true
			}
		} else {
			run = 0
		}
	}
	return false
}

func isRunByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '+' || c == '/' || c == '_' || c == '-'
}

// maskRuns replaces runs of at least minRun base64/hex characters that
// look random: all hex, or mixing upper case, lower case and digits. Long
// words, paths and UUIDs (which have no upper case) survive.
func maskRuns(s string) string {
	var b strings.Builder
	last := 0
	for i := 0; i < len(s); {
		if !isRunByte(s[i]) {
			i++
			continue
		}
		j := i
		var upper, lower, digit, nonhex bool
		for j < len(s) && isRunByte(s[j]) {
			c := s[j]
			switch {
			case c >= 'A' && c <= 'Z':
				upper = true
				nonhex = nonhex || c > 'F'
			case c >= 'a' && c <= 'z':
				lower = true
				nonhex = nonhex || c > 'f'
			case c >= '0' && c <= '9':
				digit = true
			default:
				nonhex = true
			}
			j++
		}
		for j < len(s) && s[j] == '=' {
			j++
		}
		if j-i >= minRun && (!nonhex || (upper && lower && digit)) {
			if b.Len() == 0 {
				b.Grow(len(s))
			}
			b.WriteString(s[last:i])
			b.WriteString("[REDACTED KEY]")
			last = j
		}
		i = j
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// mustEscape reports whether a rune could break, forge or visually
// disguise a log line.
func mustEscape(r rune) bool {
	switch {
	case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f:
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f, r == 0x2028, r == 0x2029,
		r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0xfeff:
		return true
	}
	return false
}

// escape rewrites dangerous characters as visible Go-style escapes.
func escape(s string) string {
	clean := true
	for i, r := range s {
		if mustEscape(r) || (r == utf8.RuneError && isInvalidAt(s, i)) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x80 && mustEscape(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case mustEscape(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func isInvalidAt(s string, i int) bool {
	_, size := utf8.DecodeRuneInString(s[i:])
	return size == 1
}

// containsFold reports whether s contains sub ignoring ASCII case; sub
// must be lower-case ASCII.
func containsFold(s, sub string) bool {
	n := len(sub)
	for i := 0; i+n <= len(s); i++ {
		match := true
		for j := 0; j < n; j++ {
			c := s[i+j]
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != sub[j] {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}
