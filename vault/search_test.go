package vault

import "testing"

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
	terms := map[[2]string]bool{}
	for _, tm := range recordTerms("José Álvarez-Núñez", "Adams & Co", " Ada@Example.com", "+442079460958") {
		terms[tm] = true
	}
	for _, q := range []query{{words: []string{"jose"}}, {words: []string{"alv", "nun"}}, {words: []string{"co"}}, {email: "ada@example.com"}, {phone: "+442079460958"}} {
		for _, tm := range q.terms() {
			if !terms[tm] {
				t.Errorf("query %+v needs %v, which the record does not carry", q, tm)
			}
		}
		if !q.matches("José Álvarez-Núñez", "Adams & Co", " Ada@Example.com", "+442079460958") {
			t.Errorf("query %+v does not match on the plaintext", q)
		}
	}
	long := query{words: []string{"abcdefghijklmnopqrstuvwxyz"}}
	if got := long.terms()[0][1]; got != "abcdefghijklmnop" {
		t.Errorf("long word term %q, want its first %d letters", got, maxPrefix)
	}
}
