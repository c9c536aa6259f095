package redact

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Key classification.
//
// A key is split into lower-case words at separators and camelCase
// boundaries ("X-CSRF-Token", "csrfToken" and "csrf_token" all become
// csrf, token). It is sensitive when:
//
//   - its letters, joined, contain a secret or contact word anywhere
//     (secretSubstrings, e.g. "accessToken", "set-cookie", "email_address"),
//   - any word is an always-sensitive word (secretWords, e.g. otp, pwd), or
//   - its LAST word is a context word (key, code, name, address, notes, ...)
//     whose qualifier makes it sensitive; see lastWordRules.
//
// The last-word rule is why "key" and "api_key" are redacted but "key_id",
// "key_version" or "cache_key" are not: an identifier of a key is not the
// key. Likewise "code" and "otp_code" are redacted but "status_code" is not,
// and "name" and "customer_name" are redacted but "route_name" is not.

// secretSubstrings are matched inside the key with separators removed.
var secretSubstrings = [...]string{
	"password", "passwd", "passphrase", "secret", "token", "apikey",
	"authorization", "cookie", "session", "csrf", "xsrf", "credential",
	"privatekey", "bearer", "signature", "email", "phone", "username",
	"firstname", "lastname", "fullname", "surname", "givenname",
	"familyname", "displayname", "birthdate", "birthday", "passport",
	"recoverycode", "postcode", "zipcode",
}

// secretWords are sensitive wherever they occur as a whole word.
var secretWords = map[string]bool{
	"otp": true, "totp": true, "hotp": true, "pwd": true, "pin": true,
	"mfa": true, "ssn": true, "iban": true, "dob": true, "mobile": true,
}

// lastWordRule decides a key ending in a context word. With safe == nil
// the key is sensitive only when the word stands alone or follows one of
// the qualifiers; with safe != nil it is sensitive unless it follows one of
// the safe qualifiers.
type lastWordRule struct {
	qualifiers map[string]bool
	safe       map[string]bool
}

func set(words ...string) map[string]bool {
	m := make(map[string]bool, len(words))
	for _, w := range words {
		m[w] = true
	}
	return m
}

var lastWordRules = map[string]lastWordRule{
	"key": {safe: set("cache", "sort", "map", "partition", "primary", "foreign",
		"public", "lookup", "rule", "group", "shard", "bucket", "idempotency",
		"object", "field", "route", "metric", "label", "config")},
	"code": {qualifiers: set("otp", "totp", "recovery", "verification", "verify",
		"auth", "authorization", "reset", "confirmation", "confirm", "backup",
		"mfa", "sms", "login", "security", "access", "invite", "invitation",
		"activation", "time", "postal", "zip", "post", "pin", "one")},
	"name": {qualifiers: set("first", "last", "full", "given", "family", "middle",
		"display", "customer", "contact", "user", "person", "real", "legal",
		"company", "maiden", "sur", "nick", "account", "owner")},
	"address": {safe: set("ip", "remote", "client", "local", "mac", "server",
		"listen", "bind", "peer", "host", "network", "net", "http", "proxy",
		"forwarded", "socket", "smtp", "webhook", "memory")},
	"notes":   {qualifiers: set("customer", "contact", "private", "internal", "record")},
	"note":    {qualifiers: set("customer", "contact", "private", "internal", "record")},
	"company": {safe: set()},
	"street":  {safe: set()},
	"city":    {safe: set()},
	"zip":     {safe: set()},
	"postal":  {safe: set()},
}

// splitWords splits a key into lower-case words.
func splitWords(key string) []string {
	words := make([]string, 0, 4)
	var b strings.Builder
	flush := func() {
		if b.Len() > 0 {
			words = append(words, b.String())
			b.Reset()
		}
	}
	runes := []rune(key)
	for i, r := range runes {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			flush()
			continue
		}
		if unicode.IsUpper(r) && i > 0 {
			prev := runes[i-1]
			nextLower := i+1 < len(runes) && unicode.IsLower(runes[i+1])
			if unicode.IsLower(prev) || unicode.IsDigit(prev) || (unicode.IsUpper(prev) && nextLower) {
				flush()
			}
		}
		b.WriteRune(unicode.ToLower(r))
	}
	flush()
	return words
}

// normalizeKey returns the canonical form used for Options key lists.
func normalizeKey(key string) string {
	return strings.Join(splitWords(key), "_")
}

// builtinSensitive applies the built-in rules to split words.
func builtinSensitive(words []string) bool {
	if len(words) == 0 {
		return false
	}
	joined := strings.Join(words, "")
	for _, s := range secretSubstrings {
		if strings.Contains(joined, s) {
			return true
		}
	}
	for _, w := range words {
		if secretWords[w] {
			return true
		}
	}
	last := words[len(words)-1]
	rule, ok := lastWordRules[last]
	if !ok {
		return false
	}
	if len(words) == 1 {
		return true
	}
	prev := words[len(words)-2]
	if rule.safe != nil {
		return !rule.safe[prev]
	}
	return rule.qualifiers[prev]
}

// asciiKeyCacheable reports whether a key is short plain ASCII; only such
// keys are cached so hostile keys cannot grow the cache without bound.
func asciiKeyCacheable(key string) bool {
	if len(key) > 64 {
		return false
	}
	for i := 0; i < len(key); i++ {
		if key[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
