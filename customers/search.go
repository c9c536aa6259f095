package customers

import (
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/custodian-crm/custodian"
	"golang.org/x/text/cases"
	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// Search matching, in one place so that the tokens stored with a record and
// the check made on decrypted candidates can never disagree.
//
// A query is one of three kinds:
//   - it contains "@": it matches a customer whose email address equals it,
//     ignoring case and surrounding spaces;
//   - it consists of digits and phone punctuation with at least 5 digits and
//     parses as a valid phone number: it matches a customer whose phone
//     number, in E.164, is the same;
//   - otherwise it is split into words (runs of letters and digits), and it
//     matches a customer when every word of the query is the beginning of a
//     word of the customer's name or company, ignoring case and accents
//     ("jo lov" matches "Joan Lovelace"; "jose" matches "José").
//
// Which fields are the email, the phone, and the name and company is the
// field table's Index column (custodian.PersonalFields).

// Token domains keep the kinds of index values apart.
const (
	domainEmail = "email"
	domainPhone = "phone"
	domainWord  = "word"
)

// prefixLengths are the lengths of the word prefixes that get a token of
// their own: every length up to 4, where a prefix still matches many
// words, then fewer as prefixes grow selective. A query word is looked up
// by its longest indexed prefix ("lovel" by "love"), and the rest of it is
// checked on the decrypted candidates. Indexing every length up to 16
// cost a third more index rows per customer, and every row is a random
// insert into the largest index, for candidate sets barely smaller.
var prefixLengths = [...]int{1, 2, 3, 4, 6, 8, 11, 16}

// indexedLength returns the longest indexed prefix length not above n.
func indexedLength(n int) int {
	best := 0
	for _, l := range prefixLengths {
		if l <= n {
			best = l
		}
	}
	return best
}

// maxQueryWords bounds the work one search can ask for.
const maxQueryWords = 8

// folders pools the folding transformer: building one allocates its
// buffers, and folding runs for every candidate of every search.
var folders = sync.Pool{New: func() any {
	return transform.Chain(norm.NFKD, runes.Remove(runes.In(unicode.Mn)), cases.Fold(), norm.NFC)
}}

// fold returns s in the form words are compared in: compatibility
// decomposed, accents removed, case folded, recomposed. ASCII text, the
// common case, takes a fast path with the same result.
func fold(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return strings.ToLower(s)
	}
	t := folders.Get().(transform.Transformer)
	defer folders.Put(t)
	out, _, err := transform.String(t, s)
	if err != nil {
		return strings.ToLower(s)
	}
	return out
}

// words splits folded text into runs of letters and digits.
func words(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}

// prefix returns the first n runes of w.
func prefix(w string, n int) string {
	i := 0
	for j := range w {
		if i == n {
			return w[:j]
		}
		i++
	}
	return w
}

// normalizeEmail is the form email addresses are indexed and compared in.
func normalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// looksLikePhone reports whether q consists of phone characters with at
// least 5 digits.
func looksLikePhone(q string) bool {
	digits := 0
	for _, r := range q {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case strings.ContainsRune("+-(). /", r):
		default:
			return false
		}
	}
	return digits >= 5
}

// recordTerms lists the index values of a customer: each field of fields
// indexed by email, then by phone, then the prefixes of prefixLengths of
// every word of the fields indexed by word prefixes, each with its domain.
// Duplicates are removed.
func recordTerms(fields []custodian.PersonalField, f *custodian.CustomerFields) [][2]string {
	seen := map[[2]string]bool{}
	var out [][2]string
	add := func(domain, v string) {
		k := [2]string{domain, v}
		if v != "" && !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	for _, v := range indexedValues(fields, f, custodian.IndexEmail) {
		add(domainEmail, normalizeEmail(v))
	}
	for _, v := range indexedValues(fields, f, custodian.IndexPhone) {
		add(domainPhone, v)
	}
	for _, w := range indexedWords(fields, f) {
		n := utf8.RuneCountInString(w)
		for _, l := range prefixLengths {
			if l > n {
				break
			}
			add(domainWord, prefix(w, l))
		}
	}
	return out
}

// indexedValues returns the values in f of the fields indexed by kind, in
// table order.
func indexedValues(fields []custodian.PersonalField, f *custodian.CustomerFields, kind custodian.IndexKind) []string {
	var out []string
	for _, pf := range fields {
		if pf.Index == kind {
			out = append(out, *pf.Value(f))
		}
	}
	return out
}

// indexedWords returns the folded words of the fields of f indexed by word
// prefixes (the name's, then the company's).
func indexedWords(fields []custodian.PersonalField, f *custodian.CustomerFields) []string {
	var out []string
	for _, v := range indexedValues(fields, f, custodian.IndexWordPrefixes) {
		out = append(out, words(fold(v))...)
	}
	return out
}

// query is a parsed search.
type query struct {
	email string   // set for an email search
	phone string   // set for a phone search (E.164)
	words []string // folded words, for a name/company search
}

// terms lists the index values a match must carry.
func (q query) terms() [][2]string {
	switch {
	case q.email != "":
		return [][2]string{{domainEmail, q.email}}
	case q.phone != "":
		return [][2]string{{domainPhone, q.phone}}
	}
	out := make([][2]string, 0, len(q.words))
	for _, w := range q.words {
		out = append(out, [2]string{domainWord, prefix(w, indexedLength(utf8.RuneCountInString(w)))})
	}
	return out
}

// matches checks a decrypted candidate, so that a token shared by chance
// with another value never puts a wrong customer in a result.
func (q query) matches(fields []custodian.PersonalField, f *custodian.CustomerFields) bool {
	switch {
	case q.email != "":
		return slices.ContainsFunc(indexedValues(fields, f, custodian.IndexEmail), func(v string) bool { return normalizeEmail(v) == q.email })
	case q.phone != "":
		return slices.Contains(indexedValues(fields, f, custodian.IndexPhone), q.phone)
	}
	have := indexedWords(fields, f)
	for _, w := range q.words {
		found := false
		for _, h := range have {
			if strings.HasPrefix(h, w) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// exact reports whether the index alone decides the query, so that a count
// on the index is the count of matches (but for chance collisions of
// tokens): an email or phone search, or words no longer than the part of
// a word the index keeps.
func (q query) exact() bool {
	for _, w := range q.words {
		n := utf8.RuneCountInString(w)
		if indexedLength(n) < n {
			return false
		}
	}
	return true
}
