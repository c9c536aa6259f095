package password

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ccojocar/zxcvbn-go"
	"github.com/ccojocar/zxcvbn-go/match"
	"github.com/ccojocar/zxcvbn-go/matching"
	"golang.org/x/text/unicode/norm"
)

// Policy defaults and bounds, from NIST SP 800-63B-4 section 3.1.1.2.
const (
	// DefaultMinLength is the shortest password accepted when the password
	// is the only authentication factor.
	DefaultMinLength = 15
	// DefaultMaxLength is the longest password accepted by default.
	DefaultMaxLength = 256
	// DefaultMinScore is the lowest zxcvbn score (0–4) accepted by default.
	DefaultMinScore = 3

	// FloorMinLength is the lowest MinLength NIST allows at all (for a
	// password used together with a second factor).
	FloorMinLength = 8
	// FloorMaxLength is the lowest MaxLength accepted: NIST asks for at
	// least 64, and Custodian always accepts passphrases of 128.
	FloorMaxLength = 128

	// ProductName is always treated as a guessable word: attackers try
	// the name of the service they attack.
	ProductName = "custodian"

	// longPassword is the length (in code points) above which the leet
	// substitution matcher is skipped: its cost grows with both length and
	// the number of substitutable characters, and a password this long
	// that survives the other matchers is not saved by a leet spelling.
	longPassword = 64

	// maxEstimated bounds how many leading code points the strength
	// estimator examines; its cost grows with the square of the length.
	// Guessing a password means guessing all of it, so a longer password
	// is at least as strong as its first maxEstimated code points.
	maxEstimated = 128
)

// ErrInvalidPolicy means a Policy's limits fall outside NIST's bounds.
var ErrInvalidPolicy = errors.New("password: invalid policy")

// Policy decides whether a new password may be set. Zero fields take the
// defaults (15 to 256 code points, zxcvbn score 3). There are deliberately
// no composition rules (no required digits, symbols or cases): NIST
// SP 800-63B-4 forbids them because they make passwords harder to remember
// without making them harder to guess.
type Policy struct {
	// MinLength is the minimum length in Unicode code points after NFKC.
	MinLength int
	// MaxLength is the maximum length in Unicode code points after NFKC;
	// at least FloorMaxLength (128), 256 by default.
	MaxLength int
	// MinScore is the minimum zxcvbn score, 0 to 4.
	MinScore int
}

// Reason classifies why a password was refused.
type Reason int

// The reasons a password can be refused.
const (
	// ReasonTooShort: fewer code points than MinLength.
	ReasonTooShort Reason = iota + 1
	// ReasonTooLong: more code points than MaxLength.
	ReasonTooLong
	// ReasonPersonal: mostly the user's name, email or the product name.
	ReasonPersonal
	// ReasonCommon: built on a common or breached password or a
	// dictionary word.
	ReasonCommon
	// ReasonPattern: built on a keyboard pattern, sequence, repetition or
	// date.
	ReasonPattern
	// ReasonGuessable: too easy to guess for another reason.
	ReasonGuessable
)

// String names the reason for logs and metrics; it never contains the
// password.
func (r Reason) String() string {
	switch r {
	case ReasonTooShort:
		return "too_short"
	case ReasonTooLong:
		return "too_long"
	case ReasonPersonal:
		return "personal"
	case ReasonCommon:
		return "common"
	case ReasonPattern:
		return "pattern"
	case ReasonGuessable:
		return "guessable"
	default:
		return "unknown"
	}
}

// WeakPasswordError explains why Policy.Check refused a password, in words
// that can be shown to the person choosing it. It never contains the
// password or any part of it.
type WeakPasswordError struct {
	// Reason classifies the refusal.
	Reason Reason
	// Explanation says what is wrong.
	Explanation string
	// Suggestion says how to choose a better password.
	Suggestion string
}

// Error returns the explanation followed by the suggestion.
func (e *WeakPasswordError) Error() string {
	return e.Explanation + " " + e.Suggestion
}

const suggestWords = "Try a passphrase of four or more unrelated words, such as ones picked at random from a book."

// Validate reports whether the policy's limits are within NIST's bounds.
func (p Policy) Validate() error {
	minLen, maxLen, minScore := p.limits()
	switch {
	case minLen < FloorMinLength:
		return fmt.Errorf("%w: minimum length %d is below %d", ErrInvalidPolicy, minLen, FloorMinLength)
	case maxLen < FloorMaxLength:
		return fmt.Errorf("%w: maximum length %d is below %d", ErrInvalidPolicy, maxLen, FloorMaxLength)
	case maxLen < minLen:
		return fmt.Errorf("%w: maximum length is below minimum length", ErrInvalidPolicy)
	case maxLen*utf8.UTFMax > MaxInputBytes:
		return fmt.Errorf("%w: maximum length %d exceeds what the hasher accepts", ErrInvalidPolicy, maxLen)
	case minScore < 0 || minScore > 4:
		return fmt.Errorf("%w: score must be 0 to 4", ErrInvalidPolicy)
	}
	return nil
}

// limits returns the effective limits, applying defaults to zero fields.
func (p Policy) limits() (minLen, maxLen, minScore int) {
	minLen, maxLen, minScore = p.MinLength, p.MaxLength, p.MinScore
	if minLen == 0 {
		minLen = DefaultMinLength
	}
	if maxLen == 0 {
		maxLen = DefaultMaxLength
	}
	if minScore == 0 {
		minScore = DefaultMinScore
	}
	return minLen, maxLen, minScore
}

// Check returns nil if password may be set, a *WeakPasswordError if it is
// too short, too long, common, patterned, guessable or mostly made of the
// user's own details, or an ErrInvalidPolicy error if the policy itself is
// misconfigured. userInputs are the account's name, email address and
// similar: each, its words and an email's local part are treated as
// guessable, as is ProductName. The password is measured after NFKC
// normalisation (as it will be hashed) and otherwise exactly as typed.
func (p Policy) Check(password string, userInputs ...string) error {
	if err := p.Validate(); err != nil {
		return err
	}
	minLen, maxLen, minScore := p.limits()
	if len(password) > MaxInputBytes {
		return tooLong(maxLen)
	}
	pw := norm.NFKC.String(password)
	n := utf8.RuneCountInString(pw)
	if n < minLen {
		return &WeakPasswordError{
			Reason:      ReasonTooShort,
			Explanation: fmt.Sprintf("This password is too short: use at least %d characters.", minLen),
			Suggestion:  "A passphrase of a few unrelated words is long enough and easy to remember.",
		}
	}
	if n > maxLen {
		return tooLong(maxLen)
	}

	words := contextWords(userInputs)
	if mostlyPersonal(pw, words) {
		return &WeakPasswordError{
			Reason:      ReasonPersonal,
			Explanation: "This password is mostly made of your name, your email address or the name of this service, which attackers try first.",
			Suggestion:  "Use words that have nothing to do with you or this service. " + suggestWords,
		}
	}

	var filters []func(match.Matcher) bool
	if n > longPassword {
		filters = append(filters, matching.FilterL33tMatcher)
	}
	estimated := pw
	if n > maxEstimated {
		estimated = string([]rune(pw)[:maxEstimated])
	}
	res := zxcvbn.PasswordStrength(estimated, words, filters...)
	if res.Score >= minScore {
		return nil
	}
	return weakness(res.MatchSequence)
}

func tooLong(maxLen int) error {
	return &WeakPasswordError{
		Reason:      ReasonTooLong,
		Explanation: fmt.Sprintf("This password is too long: use at most %d characters.", maxLen),
		Suggestion:  "A passphrase of a few unrelated words is strong enough.",
	}
}

// weakness explains a low score by the longest non-random part zxcvbn
// found in the password.
func weakness(seq []match.Match) *WeakPasswordError {
	var worst *match.Match
	for i := range seq {
		m := &seq[i]
		if m.Pattern == "bruteforce" {
			continue
		}
		if worst == nil || m.J-m.I > worst.J-worst.I {
			worst = m
		}
	}
	if worst == nil {
		return &WeakPasswordError{
			Reason:      ReasonGuessable,
			Explanation: "This password would be too easy to guess: it uses too few different characters.",
			Suggestion:  suggestWords,
		}
	}
	switch worst.Pattern {
	case "dictionary":
		if strings.HasPrefix(worst.DictionaryName, "user_inputs") {
			return &WeakPasswordError{
				Reason:      ReasonPersonal,
				Explanation: "This password would be too easy to guess: it is built on your name, your email address or the name of this service.",
				Suggestion:  "Use words that have nothing to do with you or this service. " + suggestWords,
			}
		}
		expl := "This password would be too easy to guess: it is built on a common password or word that appears in lists of breached passwords."
		if strings.HasSuffix(worst.DictionaryName, "_3117") {
			expl = "This password would be too easy to guess: it is a common password or word with letters swapped for look-alike symbols, which attackers try too."
		}
		return &WeakPasswordError{Reason: ReasonCommon, Explanation: expl, Suggestion: suggestWords}
	case "spatial":
		return patternError("it follows a row or shape on the keyboard.")
	case "repeat":
		return patternError("it repeats the same characters.")
	case "sequence":
		return patternError("it contains a predictable sequence such as abc or 123.")
	case "date":
		return patternError("it is built on a date.")
	default:
		return &WeakPasswordError{
			Reason:      ReasonGuessable,
			Explanation: "This password would be too easy to guess.",
			Suggestion:  suggestWords,
		}
	}
}

func patternError(what string) *WeakPasswordError {
	return &WeakPasswordError{
		Reason:      ReasonPattern,
		Explanation: "This password would be too easy to guess: " + what,
		Suggestion:  suggestWords,
	}
}

// minContextWord is the shortest user-input word treated as guessable;
// shorter fragments (initials, "jo") would refuse innocent passwords.
const minContextWord = 3

// contextWords expands the user inputs into the lower-cased words an
// attacker would try: each input whole, an email's local part, and each
// word of at least minContextWord code points, plus ProductName.
func contextWords(inputs []string) []string {
	seen := map[string]bool{}
	var out []string
	add := func(w string) {
		w = strings.ToLower(norm.NFKC.String(strings.TrimSpace(w)))
		if utf8.RuneCountInString(w) < minContextWord || seen[w] {
			return
		}
		seen[w] = true
		out = append(out, w)
	}
	add(ProductName)
	for _, in := range inputs {
		add(in)
		local := in
		if at := strings.LastIndexByte(in, '@'); at >= 0 {
			local = in[:at]
			add(local)
			// Domain labels, except the top-level one (com, org, …),
			// which is too short and common to say anything personal.
			labels := strings.Split(in[at+1:], ".")
			for _, label := range labels[:len(labels)-1] {
				add(label)
			}
		}
		for _, w := range strings.FieldsFunc(local, func(r rune) bool {
			return !unicode.IsLetter(r) && !unicode.IsDigit(r)
		}) {
			add(w)
		}
	}
	return out
}

// mostlyPersonal reports whether at least half of the password's code
// points are covered by occurrences of context words (case-insensitive).
func mostlyPersonal(pw string, words []string) bool {
	lower := []rune(strings.ToLower(pw))
	covered := make([]bool, len(lower))
	for _, w := range words {
		wr := []rune(w)
		for i := 0; i+len(wr) <= len(lower); i++ {
			if string(lower[i:i+len(wr)]) == w {
				for j := i; j < i+len(wr); j++ {
					covered[j] = true
				}
			}
		}
	}
	n := 0
	for _, c := range covered {
		if c {
			n++
		}
	}
	return 2*n >= len(lower)
}
