package http

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/locale"
	"golang.org/x/text/language"
)

// untranslatedAllowed are words a page may show as they are in every
// language: the product's name.
var untranslatedAllowed = []string{"Custodian"}

var (
	tplAction = regexp.MustCompile(`(?s)\{\{.*?\}\}`)
	// tplVerbatim are elements whose text is code or a key, never words.
	tplVerbatim = regexp.MustCompile(`(?s)<(kbd|code)\b[^>]*>.*?</(kbd|code)>`)
	tplText     = regexp.MustCompile(`>([^<>]*)<`)
	tplAttr     = regexp.MustCompile(`\b(title|placeholder|aria-label|alt|data-label)="([^"]*)"`)
	tplButton   = regexp.MustCompile(`<input\b[^>]*\btype="(?:submit|button|reset)"[^>]*>`)
	tplValue    = regexp.MustCompile(`\bvalue="([^"]*)"`)
	letters     = regexp.MustCompile(`\p{L}`)
)

// hasWords reports whether s, with the allowed words taken out, still has
// a letter: text a reader would read.
func hasWords(s string) bool {
	for _, a := range untranslatedAllowed {
		s = strings.ReplaceAll(s, a, "")
	}
	return letters.MatchString(s)
}

// TestTemplatesTranslateEveryText fails on any text of a page template, or
// a user-visible attribute, with words that are not a template action (so
// not passed through t): every word a reader sees comes from the
// catalogues.
func TestTemplatesTranslateEveryText(t *testing.T) {
	files, err := filepath.Glob("templates/ui/*.html")
	if err != nil || len(files) == 0 {
		t.Fatalf("no templates: %v", err)
	}
	files = append(files, "templates/link.html") // the one-time links' page
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		// Actions go, keeping their line breaks so lines still count.
		src := tplAction.ReplaceAllStringFunc(string(raw), func(a string) string { return strings.Repeat("\n", strings.Count(a, "\n")) + "\x00" })
		src = tplVerbatim.ReplaceAllStringFunc(src, func(a string) string { return strings.Repeat("\n", strings.Count(a, "\n")) })
		line := func(at int) int { return strings.Count(src[:at], "\n") + 1 }
		for _, m := range tplText.FindAllStringSubmatchIndex(src, -1) {
			if text := src[m[2]:m[3]]; hasWords(text) {
				t.Errorf("%s:%d: text not translated: %q", f, line(m[2]), strings.TrimSpace(text))
			}
		}
		for _, m := range tplAttr.FindAllStringSubmatchIndex(src, -1) {
			if v := src[m[4]:m[5]]; hasWords(v) {
				t.Errorf("%s:%d: %s not translated: %q", f, line(m[0]), src[m[2]:m[3]], v)
			}
		}
		for _, m := range tplButton.FindAllStringIndex(src, -1) {
			if v := tplValue.FindStringSubmatch(src[m[0]:m[1]]); v != nil && hasWords(v[1]) {
				t.Errorf("%s:%d: button value not translated: %q", f, line(m[0]), v[1])
			}
		}
	}
}

// templateMessage finds the message id of each {{t "…"}} call.
var templateMessage = regexp.MustCompile(`\{\{-?\s*\(?t\s+("(?:[^"\\]|\\.)*")`)

// scriptMessage finds the message id of each t('…') call in a script.
var scriptMessage = regexp.MustCompile(`\bt\('((?:[^'\\]|\\.)*)'\)`)

// usedMessageIDs returns every message id the web interface uses, with
// where: the templates' t calls, the Go code's msg, u.t and printer calls
// (and the formats of the domain's field errors, which forms show), and
// the scripts' t calls.
func usedMessageIDs(t *testing.T) map[string]string {
	t.Helper()
	ids := map[string]string{}
	tpls, _ := filepath.Glob("templates/ui/*.html")
	tpls = append(tpls, "templates/link.html")
	for _, f := range tpls {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range templateMessage.FindAllStringSubmatch(string(raw), -1) {
			id, err := strconv.Unquote(m[1])
			if err != nil {
				t.Fatalf("%s: %s: %v", f, m[1], err)
			}
			ids[id] = f
		}
	}
	gofiles, _ := filepath.Glob("*.go")
	domain, _ := filepath.Glob("../*.go") // the domain's validation messages, which forms show
	gofiles = append(gofiles, domain...)
	fset := token.NewFileSet()
	for _, f := range gofiles {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			arg := -1
			switch fn := call.Fun.(type) {
			case *ast.Ident:
				switch fn.Name {
				case "msg":
					arg = 0
				case "bad": // a validator's shorthand for errs.add under a prefix
					arg = 1
				}
			case *ast.SelectorExpr:
				switch x, _ := fn.X.(*ast.Ident); {
				case fn.Sel.Name == "t" && x != nil && x.Name == "u":
					arg = 1
				case fn.Sel.Name == "Sprintf" && (x == nil || x.Name != "fmt"):
					arg = 0
				case fn.Sel.Name == "add" && x != nil && x.Name == "errs":
					arg = 1
				}
			}
			if arg < 0 || len(call.Args) <= arg {
				return true
			}
			if lit, ok := call.Args[arg].(*ast.BasicLit); ok && lit.Kind == token.STRING {
				id, _ := strconv.Unquote(lit.Value)
				ids[id] = fset.Position(lit.Pos()).String()
			}
			return true
		})
	}
	scripts, _ := filepath.Glob("static/*.js")
	for _, f := range scripts {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range scriptMessage.FindAllStringSubmatch(string(raw), -1) {
			id := strings.ReplaceAll(m[1], `\'`, `'`)
			if !slices.Contains(scriptMessageIDs, id) {
				t.Errorf("%s: t('%s') is not among scriptMessageIDs, so no page carries its translation", f, id)
			}
			ids[id] = f
		}
	}
	// Words the pages show from the domain's keys and field definitions:
	// labels made from keys, and the personal fields' labels and hints.
	keys := append([]string{"lead", "active", "inactive", custodian.ConsentGiven, custodian.ConsentWithdrawn}, custodian.ActivityTypes...)
	for _, k := range append(keys, custodian.DefaultConsentPurposes...) {
		ids[keyLabel(k)] = "domain key " + k
	}
	for _, role := range custodian.Roles() {
		ids[keyLabel(string(role))] = "role " + string(role)
	}
	for _, st := range []string{custodian.ConsentGiven, custodian.ConsentWithdrawn} {
		ids[st] = "consent state in the timeline"
	}
	for _, pf := range custodian.PersonalFields() {
		ids[pf.Label] = "personal field " + pf.Name
		if pf.Hint != "" {
			ids[pf.Hint] = "personal field " + pf.Name
		}
		ids[personalItem{Label: keyLabel(pf.Unit)}.None()] = "personal unit " + pf.Unit
	}
	return ids
}

// TestCataloguesAreComplete checks that every message id the interface
// uses is in every catalogue, and that the catalogues hold the same ids:
// a language added or a message added in one place only fails here.
func TestCataloguesAreComplete(t *testing.T) {
	cats, err := locale.Load()
	if err != nil {
		t.Fatal(err)
	}
	used := usedMessageIDs(t)
	if len(used) < 300 {
		t.Fatalf("found only %d message ids; the extraction is broken", len(used))
	}
	langs := cats.Languages()
	if len(langs) < 2 {
		t.Fatalf("languages = %v, want English and at least one more", langs)
	}
	var missing []string
	for _, l := range langs {
		have := cats.IDs(l.Tag)
		for id, where := range used {
			if !have[id] {
				missing = append(missing, l.Tag.String()+"\t"+strconv.Quote(id)+"\t"+where)
			}
		}
		for _, other := range langs {
			for id := range cats.IDs(other.Tag) {
				if !have[id] {
					t.Errorf("catalogue %s lacks %q, which %s has", l.Tag, id, other.Tag)
				}
			}
		}
	}
	slices.Sort(missing)
	for _, m := range missing {
		t.Errorf("missing message: %s", m)
	}
}

var htmlLang = regexp.MustCompile(`<html lang="([^"]*)"`)

// TestPagesSpeakTheReadersLanguage checks how a page's language is chosen:
// the browser's Accept-Language before sign-in, an unknown language falls
// back to English, and a signed-in user's own setting overrides the
// browser; flashes, form errors and titles follow.
func TestPagesSpeakTheReadersLanguage(t *testing.T) {
	s := newTestServer(t)
	for _, tc := range []struct {
		accept, lang, want, not string
	}{
		{"de-DE,de;q=0.9", "de", "<title>Anmelden · Custodian</title>", "Forgot your password?"},
		{"de-AT", "de", "Passwort vergessen?", "Sign in"},
		{"fr-FR,fr;q=0.9", "en", "<title>Sign in · Custodian</title>", "Anmelden"},
		{"", "en", "Forgot your password?", "Anmelden"},
		{"en-GB,de;q=0.5", "en", "Forgot your password?", "Anmelden"},
		{"xx-invalid;;", "en", "Forgot your password?", "Anmelden"},
	} {
		c := s.web()
		c.lang = tc.accept
		p := c.get("/login")
		if m := htmlLang.FindStringSubmatch(p.body); p.code != 200 || m == nil || m[1] != tc.lang {
			t.Errorf("Accept-Language %q: %d, html lang %v; want %q", tc.accept, p.code, m, tc.lang)
		}
		if !strings.Contains(p.body, tc.want) || strings.Contains(p.body, tc.not) {
			t.Errorf("Accept-Language %q: want %q and not %q in the sign-in page", tc.accept, tc.want, tc.not)
		}
		if f := c.get("/forgot"); !strings.Contains(f.body, `<html lang="`+tc.lang+`"`) {
			t.Errorf("Accept-Language %q: forgot page not in %s", tc.accept, tc.lang)
		}
	}

	// Signed in with a German browser: German pages, a German plural.
	c := s.web()
	c.lang = "de-DE,de;q=0.9"
	u := c.signIn("lang@example.com", custodian.RoleAgent)
	if r := s.do("POST", "/api/customers/", `{"name": "Erika Mustermann"}`); r.StatusCode != 201 {
		t.Fatalf("create customer: %d %s", r.StatusCode, r.body)
	}
	p := c.get("/customers")
	if !strings.Contains(p.body, `<html lang="de">`) || !strings.Contains(p.body, "<h1>Kunden</h1>") || !strings.Contains(p.body, ">1 Kunde<") || !strings.Contains(p.body, "Neuer Kunde") {
		t.Fatalf("German customer list: %s", p.body)
	}
	// A refused form comes back in German, with what was typed.
	p = c.post("/account", "/account/preferences", url.Values{"language": {"de"}, "time_zone": {"Mars/Olympus"}})
	if p.code != 400 || !strings.Contains(p.body, "Muss der Name einer Zeitzone wie Europe/Berlin sein.") || !strings.Contains(p.body, `value="Mars/Olympus"`) {
		t.Fatalf("bad time zone: %d %s", p.code, p.body)
	}
	if got, _ := s.acc.ListUsers(context.Background()); userByID(got, u.ID).TimeZone != "" {
		t.Fatal("a refused preferences form was stored")
	}
	// The user's own setting overrides the browser, flash included.
	p = c.post("/account", "/account/preferences", url.Values{"language": {"en"}, "time_zone": {"Europe/Berlin"}})
	if p.code != 303 {
		t.Fatalf("save preferences: %d %s", p.code, p.body)
	}
	p = c.get("/account")
	if !strings.Contains(p.body, `<html lang="en" data-tz="Europe/Berlin">`) || !strings.Contains(p.body, "Your language and time zone have been saved.") || !strings.Contains(p.body, "<h1>Your account</h1>") {
		t.Fatalf("English by setting: %s", p.body)
	}
	p = c.post("/account", "/account/preferences", url.Values{"language": {"de"}, "time_zone": {"Europe/Berlin"}})
	c.lang = "en-US"
	if p = c.get("/account"); !strings.Contains(p.body, `<html lang="de" data-tz="Europe/Berlin">`) || !strings.Contains(p.body, "Ihre Sprache und Zeitzone wurden gespeichert.") || !strings.Contains(p.body, "<title>Ihr Konto · Custodian</title>") {
		t.Fatalf("German by setting under an English browser: %s", p.body)
	}
	// The scripts' messages come in the page's language.
	if !strings.Contains(p.body, `"This browser cannot use passkeys.":"Dieser Browser kann keine Passkeys verwenden."`) {
		t.Fatalf("script messages: %s", p.body)
	}
	// Every change is on the audit trail, with the fields it changed.
	evs, err := s.store.AuditEvents(context.Background(), custodian.AuditQuery{Action: custodian.ActionUserUpdate, Subject: u.ID})
	if err != nil || len(evs) != 2 || !slices.Equal(evs[1].Fields, []string{"language", "time_zone"}) || !slices.Equal(evs[0].Fields, []string{"language"}) {
		t.Fatalf("audit: %+v, %v", evs, err)
	}
	// Clearing the setting gives the browser its say again.
	c.post("/account", "/account/preferences", url.Values{"language": {""}, "time_zone": {""}})
	if p = c.get("/account"); !strings.Contains(p.body, `<html lang="en">`) {
		t.Fatalf("cleared setting: %s", p.body)
	}
}

func userByID(users []*custodian.User, id string) *custodian.User {
	for _, u := range users {
		if u.ID == id {
			return u
		}
	}
	return &custodian.User{}
}

// TestOneTimeLinkPagesSpeakTheReadersLanguage checks the pages behind
// mailed and printed links, where nobody is signed in: they follow the
// browser's Accept-Language, refusals included.
func TestOneTimeLinkPagesSpeakTheReadersLanguage(t *testing.T) {
	s := newTestServer(t)
	for _, tc := range []struct {
		path, accept, lang, want, not string
	}{
		{"/reset?token=x", "de-DE,de;q=0.9", "de", "<h1>Neues Passwort wählen</h1>", "Choose a new password"},
		{"/register?token=x", "de", "de", "<h1>Einladung annehmen</h1>", "Accept your invitation"},
		{"/setup?token=x", "de", "de", "Ersten Administrator anlegen", "Create the first administrator"},
		{"/account/email?token=x", "de-AT", "de", "Neue Anmeldeadresse bestätigen", "Confirm your new sign-in address"},
		{"/reset?token=x", "en-GB", "en", "<h1>Choose a new password</h1>", "Neues Passwort"},
		{"/register?token=x", "fr", "en", "Password (at least 15 characters", "Passwort (mindestens"},
	} {
		c := s.web()
		c.lang = tc.accept
		p := c.get(tc.path)
		if m := htmlLang.FindStringSubmatch(p.body); p.code != 200 || m == nil || m[1] != tc.lang {
			t.Errorf("%s with %q: %d, html lang %v; want %q", tc.path, tc.accept, p.code, m, tc.lang)
		}
		if !strings.Contains(p.body, tc.want) || strings.Contains(p.body, tc.not) {
			t.Errorf("%s with %q: want %q and not %q in:\n%s", tc.path, tc.accept, tc.want, tc.not, p.body)
		}
	}
	// A refused submission comes back in the reader's language too.
	c := s.web()
	c.lang = "de"
	p := c.do("POST", "/reset", url.Values{"token": {"x"}, "password": {"short"}})
	if p.code < 400 || !strings.Contains(p.body, `<html lang="de">`) || !strings.Contains(p.body, "<h1>Neues Passwort wählen</h1>") || !strings.Contains(p.body, "Dieser Link ist ungültig, abgelaufen oder wurde schon verwendet.") {
		t.Errorf("refused reset in German: %d\n%s", p.code, p.body)
	}
	// Every refusal these pages show from the accounts service is German.
	cats, err := locale.Load()
	if err != nil {
		t.Fatal(err)
	}
	de := cats.Printer(language.German)
	for _, m := range linkErrors {
		if de.Sprintf(m) == m {
			t.Errorf("no German for the link refusal %q", m)
		}
	}
}
