// Package redact keeps secrets and personal data out of logs.
//
// NewHandler wraps any log/slog handler. Every record passes through it
// before reaching the wrapped handler, whatever code path produced it:
//
//   - attribute values whose key names a secret or a personal field
//     (password, token, session, cookie, authorization, api_key, otp, code,
//     email, phone, name, company, address, street, city, postal_code,
//     notes, ...) are replaced by "[REDACTED]", at any depth: inside
//     groups, slog.Group values, WithAttrs and WithGroup, and inside maps
//     and structs logged with slog.Any; a group whose own key is sensitive
//     is redacted as a whole;
//   - every string that is logged, including the message, error texts,
//     fmt.Stringer output and strings inside maps and structs, is scanned
//     for secret-looking values (Bearer and Basic credentials, JWTs, cst_
//     tokens, long hex or base64 runs, PEM blocks, e-mail addresses, E.164
//     phone numbers), which are masked;
//   - characters that could forge a log line or disguise its content
//     (newlines, carriage returns, other control characters, Unicode line
//     separators and bidi overrides, invalid UTF-8) are escaped, in keys as
//     well as values.
//
// A key is judged by its words (split at separators and camelCase), so "key", "api_key" and "signing_key" are redacted
// while "key_id" and "cache_key" are not, "code" and "otp_code" are
// redacted while "status_code" is not. Options can extend or relax the
// built-in list.
package redact

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"sync"
	"sync/atomic"
	"unicode/utf8"
)

// maxDepth bounds how deep nested groups, maps and structs are followed.
const maxDepth = 8

// maxCachedKeys bounds the per-handler key classification cache.
const maxCachedKeys = 4096

// Options tunes which keys are redacted.
type Options struct {
	// SensitiveKeys adds keys to redact. An entry matches a key whose
	// normalised form (lower-case words joined by "_", so "accountRef" is
	// "account_ref") equals the entry, or one of whose words equals it.
	SensitiveKeys []string
	// AllowKeys lists normalised keys that are never redacted by name
	// (their values are still scanned). Use sparingly, e.g. "user_name"
	// for a field that only ever holds service account names.
	AllowKeys []string
}

// config is the immutable-after-construction state shared by a handler and
// the handlers derived from it.
type config struct {
	extra map[string]bool
	allow map[string]bool

	cache  sync.Map // string -> bool, ASCII keys only
	cached atomic.Int64
}

func (c *config) sensitive(key string) bool {
	if key == "" {
		return false
	}
	cacheable := asciiKeyCacheable(key)
	if cacheable {
		if v, ok := c.cache.Load(key); ok {
			return v.(bool)
		}
	}
	words := splitWords(key)
	norm := normalizeKey(key)
	res := false
	switch {
	case c.allow[norm]:
	case c.extra[norm], builtinSensitive(words):
		res = true
	default:
		for _, w := range words {
			if c.extra[w] {
				res = true
				break
			}
		}
	}
	if cacheable && c.cached.Load() < maxCachedKeys {
		if _, loaded := c.cache.LoadOrStore(key, res); !loaded {
			c.cached.Add(1)
		}
	}
	return res
}

// Handler is a slog.Handler that redacts records before passing them on.
type Handler struct {
	next      slog.Handler
	cfg       *config
	redactAll bool // inside a group whose key is sensitive
}

// NewHandler returns a handler that redacts every record and then hands it
// to next. It is safe for concurrent use if next is.
func NewHandler(next slog.Handler, opts Options) slog.Handler {
	cfg := &config{extra: map[string]bool{}, allow: map[string]bool{}}
	for _, k := range opts.SensitiveKeys {
		cfg.extra[normalizeKey(k)] = true
	}
	for _, k := range opts.AllowKeys {
		cfg.allow[normalizeKey(k)] = true
	}
	return &Handler{next: next, cfg: cfg}
}

// Enabled defers to the wrapped handler.
func (h *Handler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

// Handle redacts the record's message and attributes and passes the
// result to the wrapped handler.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	nr := slog.NewRecord(r.Time, r.Level, Scrub(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		nr.AddAttrs(h.attr(a, 0, h.redactAll))
		return true
	})
	return h.next.Handle(ctx, nr)
}

// WithAttrs redacts attrs once, up front, and derives the wrapped handler.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	red := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		red[i] = h.attr(a, 0, h.redactAll)
	}
	return &Handler{next: h.next.WithAttrs(red), cfg: h.cfg, redactAll: h.redactAll}
}

// WithGroup opens a group; when the group's name is sensitive everything
// logged inside it is redacted.
func (h *Handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &Handler{
		next:      h.next.WithGroup(escape(name)),
		cfg:       h.cfg,
		redactAll: h.redactAll || h.cfg.sensitive(name),
	}
}

func (h *Handler) attr(a slog.Attr, depth int, redactAll bool) slog.Attr {
	a.Value = a.Value.Resolve()
	key := escape(a.Key)
	if a.Value.Kind() == slog.KindGroup && a.Key == "" {
		// Inline group: keys of its members decide.
		return slog.Attr{Key: key, Value: h.group(a.Value.Group(), depth, redactAll)}
	}
	if redactAll || h.cfg.sensitive(a.Key) {
		if a.Equal(slog.Attr{}) {
			return a
		}
		return slog.String(key, Mask)
	}
	return slog.Attr{Key: key, Value: h.value(a.Value, depth)}
}

func (h *Handler) group(as []slog.Attr, depth int, redactAll bool) slog.Value {
	if depth >= maxDepth {
		return slog.StringValue("[TRUNCATED]")
	}
	out := make([]slog.Attr, len(as))
	for i, a := range as {
		out[i] = h.attr(a, depth+1, redactAll)
	}
	return slog.GroupValue(out...)
}

func (h *Handler) value(v slog.Value, depth int) slog.Value {
	switch v.Kind() {
	case slog.KindString:
		return slog.StringValue(Scrub(v.String()))
	case slog.KindGroup:
		return h.group(v.Group(), depth, false)
	case slog.KindAny:
		return h.anyValue(v.Any(), depth)
	default:
		return v
	}
}

// anyValue renders values of arbitrary type so that nothing escapes the
// scan: errors and Stringers by their text, everything composite through
// its JSON form, whose object keys are then judged like attribute keys.
func (h *Handler) anyValue(x any, depth int) slog.Value {
	switch x := x.(type) {
	case nil:
		return slog.AnyValue(nil)
	case error:
		return slog.StringValue(Scrub(safeText(x.Error)))
	case fmt.Stringer:
		return slog.StringValue(Scrub(safeText(x.String)))
	case []byte:
		if utf8.Valid(x) {
			return slog.StringValue(Scrub(string(x)))
		}
		return slog.StringValue(fmt.Sprintf("[%d bytes]", len(x)))
	}
	rv := reflect.ValueOf(x)
	switch rv.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return slog.AnyValue(x)
	case reflect.String:
		return slog.StringValue(Scrub(rv.String()))
	case reflect.Map, reflect.Struct, reflect.Slice, reflect.Array, reflect.Pointer, reflect.Interface:
		tree, ok := jsonTree(x)
		if !ok {
			return slog.StringValue("[UNRENDERABLE " + escape(fmt.Sprintf("%T", x)) + "]")
		}
		return slog.AnyValue(h.tree(tree, depth))
	default: // chan, func, unsafe pointer: the type is all that is safe
		return slog.StringValue("[" + escape(fmt.Sprintf("%T", x)) + "]")
	}
}

// jsonTree renders x to JSON and decodes it into maps, slices and scalars.
func jsonTree(x any) (tree any, ok bool) {
	defer func() {
		if recover() != nil {
			tree, ok = nil, false
		}
	}()
	b, err := json.Marshal(x)
	if err != nil {
		return nil, false
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, false
	}
	return out, true
}

func (h *Handler) tree(v any, depth int) any {
	if depth >= maxDepth {
		return "[TRUNCATED]"
	}
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, val := range v {
			if h.cfg.sensitive(k) {
				out[escape(k)] = Mask
			} else {
				out[escape(k)] = h.tree(val, depth+1)
			}
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, val := range v {
			out[i] = h.tree(val, depth+1)
		}
		return out
	case string:
		return Scrub(v)
	default:
		return v
	}
}

// safeText calls a String or Error method, turning a panic (typically a
// nil receiver) into a placeholder.
func safeText(f func() string) (s string) {
	defer func() {
		if recover() != nil {
			s = "[UNRENDERABLE]"
		}
	}()
	return f()
}
