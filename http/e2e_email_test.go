package http

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/custodian-crm/custodian"
)

// TestBrowserEmailChange changes the sign-in address in Chromium: the
// account page's form sends the link (through a real SMTP listener) and
// says so without changing anything; the link's page confirms in the
// same session, which stays signed in, and the account page then shows
// the new address. Nothing on the way breaks the Content-Security-Policy
// or logs to the console.
func TestBrowserEmailChange(t *testing.T) {
	e, s, smtpd, _, _ := newMailingE2E(t)

	u, err := s.acc.CreateUser(context.Background(), "browser.old@example.com", "Bea Browser", custodian.RoleAgent, testPassword)
	if err != nil {
		t.Fatal(err)
	}
	e.open("/login")
	e.fill("#email", "browser.old@example.com", "#password", testPassword)
	e.submit("sign in", "button[type=submit]")

	e.open("/account")
	const form = `form[action="/account/email/change"]`
	e.do("address form", chromedp.WaitVisible(chromedp.CSS(form+" #new_email")))
	// A wrong password: the message is next to the field, the address kept.
	e.fill("#new_email", "browser.new@example.com", "#email_current_password", "not the password at all")
	e.submit("wrong password", form+" button[type=submit]")
	e.do("password error", chromedp.WaitVisible(chromedp.CSS("#email_current_password-error")))
	if got := e.value("#new_email"); got != "browser.new@example.com" {
		t.Fatalf("the address was not kept: %q", got)
	}
	e.fill("#email_current_password", testPassword)
	e.submit("send the link", form+" button[type=submit]")
	if got := e.text("main"); !strings.Contains(got, "A link to confirm your new address has been sent to it") || !strings.Contains(got, "browser.old@example.com") {
		t.Fatalf("after the request: %q", got)
	}
	e.screenshot("account-email")
	mails := emailChangeMails(t, smtpd)
	tok := confirmationToken(t, mails["browser.new@example.com"])
	if mails["browser.old@example.com"] == "" {
		t.Fatal("no notice to the old address")
	}
	if got := storedEmail(t, s, u.ID); got != "browser.old@example.com" {
		t.Fatalf("changed before confirmation: %s", got)
	}

	e.open("/account/email?token=" + tok)
	e.do("confirmation page", chromedp.WaitVisible(chromedp.CSS("button[type=submit]")))
	e.submit("confirm", "button[type=submit]")
	if got := e.text("main"); !strings.Contains(got, "Your sign-in address is changed") {
		t.Fatalf("after confirming: %q", got)
	}
	e.open("/account")
	if loc := e.location(); loc != "/account" {
		t.Fatalf("the confirming session was signed out: %q", loc)
	}
	if got := e.text("main"); !strings.Contains(got, "browser.new@example.com") || strings.Contains(got, "browser.old@example.com") {
		t.Fatalf("the account page after the change: %q", got)
	}
	e.checkClean()
}
