package customers

import (
	"testing"

	"github.com/custodian-crm/custodian"
)

func TestFold(t *testing.T) {
	for in, want := range map[string]string{
		"Ada LOVELACE": "ada lovelace", "José Núñez": "jose nunez", "Émile Zoë": "emile zoe", "Straße": "strasse",
		"ÅSA": "asa", "ﬁne": "fine", "Ödegaard": "odegaard", "": "",
	} {
		if got := fold(in); got != want {
			t.Errorf("fold(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRecordTermsAndQueryAgree(t *testing.T) {
	fields := custodian.PersonalFields()
	f := custodian.CustomerFields{Name: "José Álvarez-Núñez", Company: "Adams & Co", Email: " Ada@Example.com", Phone: "+442079460958"}
	terms := map[[2]string]bool{}
	for _, tm := range recordTerms(fields, &f) {
		terms[tm] = true
	}
	for _, q := range []query{{words: []string{"jose"}}, {words: []string{"alv", "nun"}}, {words: []string{"co"}}, {email: "ada@example.com"}, {phone: "+442079460958"}} {
		for _, tm := range q.terms() {
			if !terms[tm] {
				t.Errorf("query %+v needs %v, which the record does not carry", q, tm)
			}
		}
		if !q.matches(fields, &f) {
			t.Errorf("query %+v does not match on the plaintext", q)
		}
	}
	for word, want := range map[string]string{
		"abcdefghijklmnopqrstuvwxyz": "abcdefghijklmnop", // the longest indexed prefix
		"lovel":                      "love",             // 5 is not indexed: 4 is
		"lovela":                     "lovela",
		"lovelac":                    "lovela",
		"a":                          "a",
	} {
		if got := (query{words: []string{word}}).terms()[0][1]; got != want {
			t.Errorf("term of %q = %q, want %q", word, got, want)
		}
	}
	// Every query prefix of every length finds the record.
	w := "lovelaceandbabbage"
	have := map[[2]string]bool{}
	for _, tm := range recordTerms(fields, &custodian.CustomerFields{Name: w}) {
		have[tm] = true
	}
	for n := 1; n <= len(w); n++ {
		for _, tm := range (query{words: []string{w[:n]}}).terms() {
			if !have[tm] {
				t.Errorf("query %q needs %v, which the record lacks", w[:n], tm)
			}
		}
	}
}
