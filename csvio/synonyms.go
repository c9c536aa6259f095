package csvio

import "slices"

// headerSynonyms lists, per field, the headers that map to it (matched by
// HeaderKey: case, accents, spaces and punctuation do not count). The
// README lists them for users; a test holds the two together.
var headerSynonyms = []struct {
	Field   string
	Headers []string
}{
	{"name", []string{"Name", "Full name", "Contact", "Contact name", "Customer", "Customer name", "Nom", "Nombre"}},
	{FieldFirstName, []string{"First name", "Given name", "Forename", "Prénom"}},
	{FieldLastName, []string{"Last name", "Surname", "Family name", "Nom de famille"}},
	{"email", []string{"Email", "E-mail", "Email address", "Mail", "Courriel"}},
	{"phone", []string{"Phone", "Phone number", "Telephone", "Tel", "Mobile", "Mobile phone", "Cell", "Cell phone", "Téléphone"}},
	{"company", []string{"Company", "Company name", "Organisation", "Organization", "Org", "Business", "Account name", "Société"}},
	{"address.street", []string{"Street", "Address", "Street address", "Address line 1", "Address 1", "Adresse", "address.street"}},
	{"address.city", []string{"City", "Town", "Ville", "address.city"}},
	{"address.postal_code", []string{"Postal code", "Postcode", "Post code", "ZIP", "ZIP code", "Code postal", "address.postal_code"}},
	{"address.country", []string{"Country", "Country code", "Pays", "address.country"}},
	{"notes", []string{"Notes", "Note", "Comments", "Comment", "Description"}},
	{FieldTags, []string{"Tags", "Tag", "Labels", "Groups"}},
	{FieldStatus, []string{"Status", "Stage"}},
}

// synonyms maps a header key to its field. It is never written.
var synonyms = func() map[string]string {
	m := map[string]string{}
	for _, s := range headerSynonyms {
		for _, h := range s.Headers {
			m[HeaderKey(h)] = s.Field
		}
	}
	return m
}()

// Synonyms returns, for each field a column may map to, the headers that
// map to it by themselves.
func Synonyms() map[string][]string {
	out := map[string][]string{}
	for _, s := range headerSynonyms {
		out[s.Field] = slices.Clone(s.Headers)
	}
	return out
}
