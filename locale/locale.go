// Package locale holds the web interface's message catalogues, one JSON
// file per language embedded in the binary, and chooses a request's
// language: the user's own setting, else the browser's Accept-Language,
// else English. It is built on golang.org/x/text's catalog, message and
// language packages; a Catalogs value is made once at start and only read
// afterwards.
package locale

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"golang.org/x/text/feature/plural"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"golang.org/x/text/message/catalog"
)

//go:embed messages/*.json
var files embed.FS

// Fallback is the language of the message ids and of any request no
// catalogue matches.
var Fallback = language.English

// file is one catalogue file: the language's tag, its name in itself (for
// the language picker) and its messages by id. A message is a string, or
// an object of plural forms ("one", "other", and "zero", "two", "few",
// "many" where the language has them) selected by the first argument.
type file struct {
	Language string                     `json:"language"`
	Name     string                     `json:"name"`
	Messages map[string]json.RawMessage `json:"messages"`
}

// Language is one language the interface is offered in.
type Language struct {
	Tag  language.Tag
	Name string // in the language itself: "Deutsch"
}

// Catalogs are the loaded catalogues and the matcher that picks one of
// them for a request.
type Catalogs struct {
	cat      *catalog.Builder
	langs    []Language
	matcher  language.Matcher
	messages map[language.Tag]map[string]bool
}

// Load reads the embedded catalogues.
func Load() (*Catalogs, error) { return load(files) }

func load(fsys fs.FS) (*Catalogs, error) {
	names, err := fs.Glob(fsys, "messages/*.json")
	if err != nil {
		return nil, fmt.Errorf("list catalogues: %w", err)
	}
	c := &Catalogs{cat: catalog.NewBuilder(catalog.Fallback(Fallback)), messages: map[language.Tag]map[string]bool{}}
	for _, n := range names {
		raw, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, fmt.Errorf("read catalogue %s: %w", n, err)
		}
		var f file
		if err := json.Unmarshal(raw, &f); err != nil {
			return nil, fmt.Errorf("parse catalogue %s: %w", n, err)
		}
		tag, err := language.Parse(f.Language)
		if err != nil || f.Language != strings.TrimSuffix(path.Base(n), ".json") {
			return nil, fmt.Errorf("catalogue %s: language %q does not match its file name", n, f.Language)
		}
		ids := map[string]bool{}
		for id, m := range f.Messages {
			if err := c.set(tag, id, m); err != nil {
				return nil, fmt.Errorf("catalogue %s: message %q: %w", n, id, err)
			}
			ids[id] = true
		}
		c.messages[tag] = ids
		c.langs = append(c.langs, Language{Tag: tag, Name: f.Name})
	}
	// The fallback comes first: the matcher answers it when nothing fits.
	sort.SliceStable(c.langs, func(i, j int) bool {
		if c.langs[i].Tag == Fallback || c.langs[j].Tag == Fallback {
			return c.langs[i].Tag == Fallback
		}
		return c.langs[i].Tag.String() < c.langs[j].Tag.String()
	})
	if len(c.langs) == 0 || c.langs[0].Tag != Fallback {
		return nil, fmt.Errorf("no %s catalogue", Fallback)
	}
	tags := make([]language.Tag, len(c.langs))
	for i, l := range c.langs {
		tags[i] = l.Tag
	}
	c.matcher = language.NewMatcher(tags)
	return c, nil
}

// pluralForms are the plural categories a catalogue may give, in CLDR's
// order.
var pluralForms = []struct {
	name string
	form plural.Form
}{{"zero", plural.Zero}, {"one", plural.One}, {"two", plural.Two}, {"few", plural.Few}, {"many", plural.Many}, {"other", plural.Other}}

// set adds one message: a plain string, or plural forms selected by the
// first argument.
func (c *Catalogs) set(tag language.Tag, id string, raw json.RawMessage) error {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return c.cat.SetString(tag, id, s)
	}
	var forms map[string]string
	if err := json.Unmarshal(raw, &forms); err != nil {
		return fmt.Errorf("neither a string nor plural forms: %w", err)
	}
	if forms["other"] == "" {
		return fmt.Errorf("plural forms without \"other\"")
	}
	var cases []any
	for _, f := range pluralForms {
		if v, ok := forms[f.name]; ok {
			cases = append(cases, f.form, v)
			delete(forms, f.name)
		}
	}
	for k := range forms {
		return fmt.Errorf("unknown plural form %q", k)
	}
	return c.cat.Set(tag, id, plural.Selectf(1, "", cases...))
}

// Languages lists the languages offered, English first.
func (c *Catalogs) Languages() []Language { return c.langs }

// Supported returns the offered language s names exactly (a tag such as
// "de"), and false for any other.
func (c *Catalogs) Supported(s string) (language.Tag, bool) {
	t, err := language.Parse(s)
	if err != nil {
		return language.Und, false
	}
	for _, l := range c.langs {
		if l.Tag == t {
			return t, true
		}
	}
	return language.Und, false
}

// Choose returns the language of a request: the user's own setting when it
// is one offered, else the best match for the Accept-Language header, else
// English.
func (c *Catalogs) Choose(setting, acceptLanguage string) language.Tag {
	if t, ok := c.Supported(setting); ok {
		return t
	}
	prefs, _, err := language.ParseAcceptLanguage(acceptLanguage)
	if err != nil || len(prefs) == 0 {
		return Fallback
	}
	_, i, conf := c.matcher.Match(prefs...)
	if conf == language.No {
		return Fallback
	}
	return c.langs[i].Tag
}

// Printer returns the printer of messages in tag, one of Languages.
func (c *Catalogs) Printer(tag language.Tag) *message.Printer {
	return message.NewPrinter(tag, message.Catalog(c.cat))
}

// IDs returns the ids of the messages tag's catalogue holds, for the
// completeness checks.
func (c *Catalogs) IDs(tag language.Tag) map[string]bool { return c.messages[tag] }

// Offered reports whether the web interface has a catalogue for the
// language tag s exactly ("de"; not "de-AT"): the languages a user may
// choose. It reads only the embedded catalogues' names.
func Offered(s string) bool {
	t, err := language.Parse(s)
	if err != nil || t.String() != s {
		return false
	}
	_, err = fs.Stat(files, "messages/"+s+".json")
	return err == nil
}
