package custodian

import (
	"fmt"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
)

// Limits on customer fields. They are generous for real data and small
// enough that no single record can be used to exhaust storage.
const (
	MaxNameLen       = 200
	MaxCompanyLen    = 200
	MaxEmailLen      = 254 // RFC 5321 path limit
	MaxPhoneInputLen = 64
	MaxStreetLen     = 200
	MaxCityLen       = 100
	MaxPostalCodeLen = 20
	MaxNotesLen      = 20000
	MaxTags          = 20
	MaxTagLen        = 40
)

// Validator checks customer fields against an allow-list per field and
// returns them in normal form. PhoneRegion is the ISO 3166-1 region assumed
// for phone numbers written without a country code; empty means every number
// must start with "+" and its country code.
type Validator struct {
	PhoneRegion string
}

// fieldErrors collects field errors in input order.
type fieldErrors []FieldError

func (fe *fieldErrors) add(field, format string, args ...any) {
	*fe = append(*fe, FieldError{Field: field, Message: fmt.Sprintf(format, args...), Format: format, Args: args})
}

// Normalize validates f and returns it in normal form: each personal field
// by its kind (see PersonalFields, whose order the errors follow): surrounding
// spaces trimmed from single-line fields, the phone number in E.164, the
// country code in upper case, notes kept exactly as given; then tags
// lower-cased without duplicates, and the status defaulted to lead. On
// failure it returns an EINVALID *Error listing every field at fault.
func (v Validator) Normalize(f CustomerFields) (CustomerFields, error) {
	var errs fieldErrors
	for _, pf := range personalFields {
		p := pf.Value(&f)
		*p = v.field(&errs, &pf, *p)
	}
	f.Tags = v.tags(&errs, f.Tags)
	switch {
	case f.Status == "":
		f.Status = StatusLead
	case !f.Status.Valid():
		errs.add("status", "Status must be one of lead, active or inactive.")
	}
	if len(errs) > 0 {
		return f, &Error{Code: EINVALID, Message: "The customer has invalid fields.", Fields: errs}
	}
	return f, nil
}

// NormalizeField validates s as a value of the personal field pf, as
// Normalize does, and returns it in normal form, or an EINVALID *Error
// naming the field. Search reads a phone number with it, so that a query
// and a stored number are compared in the same form.
func (v Validator) NormalizeField(pf PersonalField, s string) (string, error) {
	var errs fieldErrors
	s = v.field(&errs, &pf, s)
	if len(errs) > 0 {
		return s, &Error{Code: EINVALID, Message: "The customer has invalid fields.", Fields: errs}
	}
	return s, nil
}

// field validates one value of pf by its kind, adding its errors to errs,
// and returns it in normal form; a required field left empty is an error
// when its value has no other.
func (v Validator) field(errs *fieldErrors, pf *PersonalField, s string) string {
	switch pf.Kind {
	case KindLine:
		s = v.line(errs, pf.Name, s, pf.MaxLen, true)
	case KindEmail:
		s = v.email(errs, pf.Name, s, pf.MaxLen)
	case KindPhone:
		s = v.phone(errs, pf.Name, s, pf.MaxLen)
	case KindPostalCode:
		s = v.postalCode(errs, pf.Name, s, pf.MaxLen)
	case KindCountry:
		s = v.country(errs, pf.Name, s)
	case KindText:
		s = v.notes(errs, pf.Name, s, pf.MaxLen)
	default:
		panic(fmt.Sprintf("custodian: personal field %q has no kind", pf.Name)) // the table's test forbids it
	}
	if pf.Required && s == "" && !errs.has(pf.Name) {
		errs.add(pf.Name, "%s is required.", pf.Label)
	}
	return s
}

func (fe fieldErrors) has(field string) bool {
	for _, e := range fe {
		if e.Field == field {
			return true
		}
	}
	return false
}

// text checks what every text field must satisfy: valid UTF-8, no control
// characters (multiLine allows tab, line feed and carriage return), and no
// bidirectional overrides that could disguise text.
func text(errs *fieldErrors, field, s string, multiLine bool) bool {
	if !utf8.ValidString(s) {
		errs.add(field, "Must be valid UTF-8 text.")
		return false
	}
	for _, r := range s {
		if multiLine && (r == '\t' || r == '\n' || r == '\r') {
			continue
		}
		if unicode.IsControl(r) {
			errs.add(field, "Must not contain control characters.")
			return false
		}
		if !multiLine && isBidiOverride(r) {
			errs.add(field, "Must not contain bidirectional override characters.")
			return false
		}
	}
	return true
}

// isBidiOverride reports the explicit embedding, override and isolate
// controls that can make a single-line value display as something else.
func isBidiOverride(r rune) bool {
	return r >= 0x202A && r <= 0x202E || r >= 0x2066 && r <= 0x2069
}

// line validates a single-line field: trimmed, bounded, and free of markup
// characters when noMarkup is set. Markup is refused, never stripped, so what
// is stored is what the user sees.
func (v Validator) line(errs *fieldErrors, field, s string, max int, noMarkup bool) string {
	s = strings.TrimSpace(s)
	if !text(errs, field, s, false) {
		return s
	}
	if n := utf8.RuneCountInString(s); n > max {
		errs.add(field, "Must be at most %d characters (got %d).", max, n)
		return s
	}
	if noMarkup && strings.ContainsAny(s, "<>") {
		errs.add(field, "Must not contain the characters < or >.")
	}
	return s
}

// filled trims s, an optional single-line field, and checks that it is
// text of at most max bytes. It reports whether there is a value left to
// check: false when s is empty or failed.
func filled(errs *fieldErrors, field, s string, max int) (string, bool) {
	s = strings.TrimSpace(s)
	if s == "" || !text(errs, field, s, false) {
		return s, false
	}
	if len(s) > max {
		errs.add(field, "Must be at most %d characters.", max)
		return s, false
	}
	return s, true
}

func (v Validator) email(errs *fieldErrors, field, s string, max int) string {
	s, ok := filled(errs, field, s, max)
	if !ok {
		return s
	}
	a, err := mail.ParseAddress(s)
	local, domain, ok := strings.Cut(s, "@")
	if err != nil || a.Name != "" || a.Address != s || !ok || local == "" ||
		!strings.Contains(domain, ".") || strings.HasSuffix(domain, ".") || strings.ContainsAny(s, " <>\"()[]\\,;:") {
		errs.add(field, "Must be an email address such as name@example.com.")
		return s
	}
	return local + "@" + strings.ToLower(domain)
}

func (v Validator) phone(errs *fieldErrors, field, s string, max int) string {
	s, ok := filled(errs, field, s, max)
	if !ok {
		return s
	}
	region := v.PhoneRegion
	if region == "" {
		region = "ZZ" // unknown: only numbers with a country code parse
	}
	n, err := phonenumbers.Parse(s, region)
	if err != nil || !phonenumbers.IsValidNumber(n) {
		if v.PhoneRegion == "" && !strings.HasPrefix(s, "+") {
			errs.add(field, "Must be a phone number with its country code, such as +44 20 7946 0958.")
		} else {
			errs.add(field, "Must be a valid phone number, such as +44 20 7946 0958.")
		}
		return s
	}
	return phonenumbers.Format(n, phonenumbers.E164)
}

func (v Validator) postalCode(errs *fieldErrors, field, s string, max int) string {
	s = v.line(errs, field, s, max, true)
	for _, r := range s {
		if !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == ' ' || r == '-') {
			errs.add(field, "May contain only letters, digits, spaces and hyphens.")
			break
		}
	}
	return s
}

func (v Validator) country(errs *fieldErrors, field, s string) string {
	s = strings.ToUpper(strings.TrimSpace(s))
	if s == "" {
		return s
	}
	if !ValidCountry(s) {
		errs.add(field, "Must be an ISO 3166-1 alpha-2 country code, such as GB or DE.")
	}
	return s
}

func (v Validator) notes(errs *fieldErrors, field, s string, max int) string {
	if !text(errs, field, s, true) {
		return s
	}
	if n := utf8.RuneCountInString(s); n > max {
		errs.add(field, "Must be at most %d characters (got %d).", max, n)
	}
	return s
}

func (v Validator) tags(errs *fieldErrors, tags []string) []string {
	if len(tags) > MaxTags {
		errs.add("tags", "At most %d tags are allowed.", MaxTags)
		return tags
	}
	out := make([]string, 0, len(tags))
	seen := make(map[string]bool, len(tags))
	for i, t := range tags {
		field := fmt.Sprintf("tags[%d]", i)
		t = strings.ToLower(strings.TrimSpace(t))
		if !text(errs, field, t, false) {
			continue
		}
		if ValidTag(t) != nil {
			errs.add(field, "A tag is 1 to %d letters, digits, spaces, '-', '_' or '.'.", MaxTagLen)
			continue
		}
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out
}

// ValidTag reports whether t (already lower-cased and trimmed) is an
// acceptable tag: 1 to MaxTagLen letters, digits, spaces, '-', '_' or '.'.
func ValidTag(t string) error {
	if t == "" || utf8.RuneCountInString(t) > MaxTagLen {
		return Errorf(EINVALID, "A tag is 1 to %d characters.", MaxTagLen)
	}
	for _, r := range t {
		if !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == ' ' || r == '-' || r == '_' || r == '.') {
			return Errorf(EINVALID, "A tag may contain only letters, digits, spaces, '-', '_' or '.'.")
		}
	}
	return nil
}

// NormalizeUserEmail validates a sign-in email address and returns it in
// the form accounts are keyed by: trimmed and lower-cased.
func NormalizeUserEmail(s string) (string, error) {
	var errs fieldErrors
	e := Validator{}.email(&errs, "email", s, MaxEmailLen)
	if len(errs) > 0 || e == "" {
		return "", &Error{Code: EINVALID, Message: "The email address is not valid.", Fields: []FieldError{{Field: "email", Message: "Must be an email address such as name@example.com."}}}
	}
	return strings.ToLower(e), nil
}
