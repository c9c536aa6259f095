package http

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/custodian-crm/custodian/crypto"
)

// preSessionCookie holds a random value for a browser that is not signed
// in, so that the sign-in form's CSRF token has something to be bound to.
const preSessionCookie = "__Host-custodian_pre"

// csrfField is the name of the hidden field that carries a form's token.
const csrfField = "csrf_token"

// formKeys are the web interface's secrets, derived from one form key:
// an HMAC key for CSRF tokens and a box for state that pages hand to the
// browser sealed (search terms, a half-finished sign-in, a pending 2FA
// enrolment).
type formKeys struct {
	csrf []byte
	box  *crypto.Box
}

// newFormKeys derives the keys from key, or from a random key made now
// when key is empty (forms then work only with the server that made them).
func newFormKeys(key []byte) (*formKeys, error) {
	if len(key) == 0 {
		key = make([]byte, crypto.KeySize)
		_, _ = rand.Read(key) // never fails (crypto/rand)
	}
	csrf, err := crypto.SubKey(key, "custodian ui csrf v1")
	if err != nil {
		return nil, err
	}
	sk, err := crypto.SubKey(key, "custodian ui state v1")
	if err != nil {
		return nil, err
	}
	box, err := crypto.NewBox(sk)
	if err != nil {
		return nil, err
	}
	return &formKeys{csrf: csrf, box: box}, nil
}

// token returns the synchronizer token for a binding: the hash of the
// session's token (signed in), or the pre-session cookie (signed out).
// An empty binding has no token.
func (k *formKeys) token(kind string, binding []byte) string {
	if len(binding) == 0 {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString(crypto.MAC(k.csrf, []byte(kind), binding))
}

// check compares a submitted token with the expected one in constant time.
func (k *formKeys) check(kind string, binding []byte, got string) bool {
	want := k.token(kind, binding)
	return want != "" && subtle.ConstantTimeCompare([]byte(want), []byte(got)) == 1
}

// errSealed reports sealed state that does not open: tampered, expired, or
// made for another session.
var errSealed = errors.New("sealed state is invalid or expired")

// sealState seals b for purpose and binding, valid for ttl, as URL-safe
// text.
func (k *formKeys) sealState(purpose string, binding []byte, b []byte, ttl time.Duration) string {
	msg := strconv.AppendInt(nil, time.Now().Add(ttl).Unix(), 10) // the expiry, then ":" and b
	msg = append(msg, ':')
	msg = append(msg, b...)
	return base64.RawURLEncoding.EncodeToString(k.box.Seal(msg, stateAAD(purpose, binding)))
}

// openState returns what sealState sealed for the same purpose and binding,
// or errSealed.
func (k *formKeys) openState(purpose string, binding []byte, s string) ([]byte, error) {
	ct, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, errSealed
	}
	msg, err := k.box.Open(ct, stateAAD(purpose, binding))
	if err != nil {
		return nil, errSealed
	}
	exp, rest, ok := bytes.Cut(msg, []byte{':'})
	expires, perr := strconv.ParseInt(string(exp), 10, 64)
	if !ok || perr != nil || time.Now().Unix() > expires {
		return nil, errSealed
	}
	return rest, nil
}

func stateAAD(purpose string, binding []byte) []byte {
	return append([]byte(purpose+"\x00"), binding...)
}

// preSession returns the browser's pre-session value, setting a new
// cookie when it has none.
func preSession(w http.ResponseWriter, r *http.Request) []byte {
	if c, err := r.Cookie(preSessionCookie); err == nil && len(c.Value) >= 32 && len(c.Value) <= 64 {
		return []byte(c.Value)
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	v := base64.RawURLEncoding.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{Name: preSessionCookie, Value: v, Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	return []byte(v)
}

// checkPreForm reads the pre-session cookie of a signed-out form's post
// (login, passkey sign-in, forgotten password) and reports whether the
// form carries its CSRF token; pre is the cookie's value, which the
// sign-in form also seals its state to.
func (u *ui) checkPreForm(r *http.Request) (pre []byte, ok bool) {
	if c, err := r.Cookie(preSessionCookie); err == nil {
		pre = []byte(c.Value)
	}
	return pre, u.keys.check("pre", pre, r.PostForm.Get(csrfField))
}

// localPath returns next when it is a path on this site (so a sign-in can
// return there), and "" for anything that could lead elsewhere: absolute
// or scheme-relative URLs, backslashes, control characters, or the
// sign-in and sign-out pages themselves.
func localPath(next string) string {
	if next == "" || len(next) > 2048 || next[0] != '/' || strings.HasPrefix(next, "//") {
		return ""
	}
	if strings.ContainsAny(next, "\\") || strings.ContainsFunc(next, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return ""
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || !strings.HasPrefix(u.Path, "/") || strings.HasPrefix(u.Path, "//") {
		return ""
	}
	if u.Path == "/login" || u.Path == "/logout" {
		return ""
	}
	return next
}
