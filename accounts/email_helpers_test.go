package accounts_test

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/accounts"
)

// mailingEnv is envOn with a service that mails people links, into a
// mailbox the test reads.
func mailingEnv(t *testing.T, store custodian.AccountRepository) *env {
	t.Helper()
	box := &mailbox{}
	e := envWith(t, store, func(c *accounts.Config) { c.Notifier, c.PublicURL = box, "https://crm.example.test/" })
	e.box = box
	return e
}

// emailLinkRE finds the token of an address confirmation link.
var emailLinkRE = regexp.MustCompile(`/account/email\?token=(cst_eml_[A-Za-z0-9_\-]+)`)

// mailedToken returns the token of the last address confirmation link
// mailed to to.
func mailedToken(t *testing.T, box *mailbox, to string) string {
	t.Helper()
	sent := box.all()
	for i := len(sent) - 1; i >= 0; i-- {
		if !strings.HasPrefix(sent[i], to+"\n") {
			continue
		}
		if g := emailLinkRE.FindStringSubmatch(sent[i]); g != nil {
			return g[1]
		}
	}
	t.Fatalf("no confirmation link mailed to %s in %q", to, sent)
	return ""
}

// changeEmail moves p's sign-in address to email the way a person does:
// asks with the password, then opens the link mailed to it in p's
// session.
func changeEmail(t *testing.T, e *env, p *custodian.Principal, email string) *custodian.User {
	t.Helper()
	ctx := context.Background()
	if _, err := e.svc.RequestEmailChange(ctx, p, pw, email); err != nil {
		t.Fatal(err)
	}
	u, err := e.svc.ConfirmEmailChange(ctx, p, mailedToken(t, e.box, email))
	if err != nil {
		t.Fatal(err)
	}
	return u
}
