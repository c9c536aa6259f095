package locale

import (
	"strings"
	"testing"
	"testing/fstest"

	"golang.org/x/text/language"
)

func TestChoose(t *testing.T) {
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		setting, accept string
		want            language.Tag
	}{
		{"", "de-DE,de;q=0.9", language.German},
		{"", "de-AT", language.German},
		{"", "fr-FR,fr;q=0.9,de;q=0.5", language.German},
		{"", "fr-FR", language.English},
		{"", "", language.English},
		{"", "en-GB,de;q=0.9", language.English},
		{"", ";;garbage", language.English},
		{"en", "de-DE", language.English},
		{"de", "en-US", language.German},
		{"fr", "de", language.German}, // a setting not offered is ignored
		{"de-AT", "en", language.English},
	} {
		if got := c.Choose(tc.setting, tc.accept); got != tc.want {
			t.Errorf("Choose(%q, %q) = %v, want %v", tc.setting, tc.accept, got, tc.want)
		}
	}
}

func TestPluralsAndFormatting(t *testing.T) {
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	en, de := c.Printer(language.English), c.Printer(language.German)
	for _, tc := range []struct{ got, want string }{
		{en.Sprintf("%d customers", 1), "1 customer"},
		{en.Sprintf("%d customers", 2), "2 customers"},
		{en.Sprintf("%d customers", 1234), "1,234 customers"},
		{de.Sprintf("%d customers", 1), "1 Kunde"},
		{de.Sprintf("%d customers", 0), "0 Kunden"},
		{de.Sprintf("%d customers", 1234), "1.234 Kunden"},
		{de.Sprintf("%[2]s for %[1]d customers", 3, "Löschen"), "Löschen für 3 Kunden"},
		{en.Sprintf("%[2]s for %[1]d customers", 1, "Delete"), "Delete for 1 customer"},
		{de.Sprintf("Delete %s", "Erika"), "Erika löschen"},
		{de.Sprintf("Sign in"), "Anmelden"},
		{de.Sprintf("not in any catalogue"), "not in any catalogue"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestLoadRefusesBadCatalogues(t *testing.T) {
	en := `{"language":"en","name":"English","messages":{"A":"A"}}`
	for name, tc := range map[string]struct {
		files map[string]string
		want  string
	}{
		"no English":           {map[string]string{"messages/de.json": `{"language":"de","name":"Deutsch","messages":{}}`}, "no en catalogue"},
		"name and tag differ":  {map[string]string{"messages/en.json": en, "messages/de.json": `{"language":"fr","name":"x","messages":{}}`}, "does not match"},
		"not JSON":             {map[string]string{"messages/en.json": `{`}, "parse catalogue"},
		"plural without other": {map[string]string{"messages/en.json": `{"language":"en","name":"English","messages":{"%d x":{"one":"%d x"}}}`}, `without "other"`},
		"unknown plural form":  {map[string]string{"messages/en.json": `{"language":"en","name":"English","messages":{"%d x":{"other":"%d x","some":"x"}}}`}, "unknown plural form"},
	} {
		fsys := fstest.MapFS{}
		for p, body := range tc.files {
			fsys[p] = &fstest.MapFile{Data: []byte(body)}
		}
		if _, err := load(fsys); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", name, err, tc.want)
		}
	}
}

func TestOffered(t *testing.T) {
	for s, want := range map[string]bool{"en": true, "de": true, "fr": false, "de-AT": false, "DE": false, "": false, "../de": false, "de.json": false} {
		if got := Offered(s); got != want {
			t.Errorf("Offered(%q) = %v, want %v", s, got, want)
		}
	}
}
