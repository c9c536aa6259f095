package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/custodian-crm/custodian"
)

// JSON in and out: reading request bodies strictly, writing JSON answers,
// and the shape most JSON handlers share.

// handle is the shape of most JSON handlers: decode the body into a
// fresh T, act, and answer with a status and a value (nil: no content).
func handle[T any](logger *slog.Logger, act func(r *http.Request, body *T) (int, any, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := new(T)
		if r.ContentLength != 0 || r.Header.Get("Content-Type") != "" {
			if err := decodeBody(w, r, body); err != nil {
				writeError(w, r, logger, err)
				return
			}
		}
		status, out, err := act(r, body)
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		if out == nil {
			w.WriteHeader(status)
			return
		}
		writeJSON(w, status, out)
	})
}

// none is the body of a request that carries no fields.
type none struct{}

// decodeBody reads a JSON body strictly into dst.
func decodeBody(w http.ResponseWriter, r *http.Request, dst any) error {
	b, err := readJSON(w, r)
	if err != nil {
		return err
	}
	return decodeStrict(b, dst, "")
}

// writeJSON answers with v as JSON and status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client may be gone; nothing to do
}

// MaxBodyBytes bounds every request body.
const MaxBodyBytes = 1 << 20

// readJSON reads a request body that must be one JSON value in a JSON
// media type, at most MaxBodyBytes, in valid UTF-8. It returns the raw
// bytes for decodeStrict.
func readJSON(w http.ResponseWriter, r *http.Request, mediaTypes ...string) ([]byte, error) {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	ok := err == nil && (mt == "application/json" || slices.Contains(mediaTypes, mt))
	if cs, has := params["charset"]; ok && has && !strings.EqualFold(cs, "utf-8") {
		ok = false
	}
	if !ok {
		return nil, errorf(codeUnsupportedMedia, fmt.Sprintf("The request body must be %s in UTF-8.", strings.Join(append([]string{"application/json"}, mediaTypes...), " or ")))
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, errorf(codeTooLarge, fmt.Sprintf("The request body must be at most %d bytes.", MaxBodyBytes))
		}
		return nil, errorf(codeMalformed, "The request body could not be read.")
	}
	if !utf8.Valid(b) {
		return nil, errorf(codeMalformed, "The request body is not valid UTF-8.")
	}
	return b, nil
}

// decodeStrict decodes exactly one JSON value into dst, refusing unknown
// fields and trailing data, and turns decoder errors into messages that
// name the field at fault. path prefixes field names ("address.").
func decodeStrict(b []byte, dst any, path string) error {
	if err := exactKeys(b, dst, path); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return jsonError(err, path)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errorf(codeMalformed, "The request body must hold a single JSON value.")
	}
	return nil
}

func jsonError(err error, path string) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return errorf(codeMalformed, fmt.Sprintf("The request body is not valid JSON (at byte %d).", syntax.Offset))
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errorf(codeMalformed, "The request body is empty or cut short.")
	case errors.As(err, &typ):
		field := path + typ.Field
		if field == "" {
			return errorf(codeMalformed, fmt.Sprintf("The request body must be a JSON %s.", "object"))
		}
		return errorf(custodian.EINVALID, "The request has invalid fields.", custodian.FieldError{Field: field, Message: fmt.Sprintf("Must be a JSON %s.", jsonKind(typ.Type.Kind().String()))})
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return errorf(custodian.EINVALID, "The request has unknown fields.", custodian.FieldError{Field: path + name, Message: "Unknown field."})
	}
	return errorf(codeMalformed, "The request body is not valid JSON.")
}

func jsonKind(k string) string {
	switch k {
	case "slice", "array":
		return "array"
	case "struct", "map":
		return "object"
	case "int", "int64", "float64":
		return "number"
	}
	return k
}

// exactKeys checks the keys of a JSON object against the JSON names of the
// struct dst points to, exactly: encoding/json would otherwise accept
// "NAME" for "name", and take the last of two equal keys, so that what a
// client sent and what was stored could differ. Anything that is not an
// object, or not going into a struct, is left to the decoder.
func exactKeys(b []byte, dst any, path string) error {
	t := reflect.TypeOf(dst)
	if t == nil || t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return nil
	}
	names := map[string]bool{}
	for f := range t.Elem().Fields() {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		names[name] = true
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil // not an object: the decoder says what is wrong
	}
	seen := map[string]bool{}
	var fields []custodian.FieldError
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil
		}
		key, _ := tok.(string)
		switch {
		case seen[key]:
			fields = append(fields, custodian.FieldError{Field: path + key, Message: "Given more than once."})
		case !names[key]:
			msg := "Unknown field."
			for n := range names {
				if strings.EqualFold(n, key) {
					msg = fmt.Sprintf("Unknown field; field names are case-sensitive (did you mean %q?).", n)
				}
			}
			fields = append(fields, custodian.FieldError{Field: path + key, Message: msg})
		}
		seen[key] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil
		}
	}
	if len(fields) > 0 {
		return errorf(custodian.EINVALID, "The request has unknown or repeated fields.", fields...)
	}
	return nil
}

// object is a JSON object type made at run time, from the field table: a
// struct type whose members have the given JSON names and Go types, so
// that decodeStrict refuses unknown, repeated and mistyped members, and
// names them, exactly as for a struct declared in the source.
type object struct{ t reflect.Type }

// member is one member of an object: its JSON name and Go type.
type member struct {
	name string
	typ  reflect.Type
}

func newObject(members []member) object {
	fs := make([]reflect.StructField, len(members))
	for i, m := range members {
		fs[i] = reflect.StructField{Name: fmt.Sprintf("M%d", i), Type: m.typ, Tag: reflect.StructTag(`json:"` + m.name + `"`)}
	}
	return object{reflect.StructOf(fs)}
}

// decode decodes b, the object at path, with decodeStrict.
func (o object) decode(b []byte, path string) (decoded, error) {
	v := reflect.New(o.t)
	if err := decodeStrict(b, v.Interface(), path); err != nil {
		return decoded{}, err
	}
	return decoded{v.Elem()}, nil
}

// decoded is a decoded object.
type decoded struct{ v reflect.Value }

// get returns the value of the member named name (its zero value when the
// object did not have it).
func (d decoded) get(name string) any {
	for i := range d.v.NumField() {
		if n, _, _ := strings.Cut(d.v.Type().Field(i).Tag.Get("json"), ","); n == name {
			return d.v.Field(i).Interface()
		}
	}
	panic("http: no object member " + name) // the members are fixed when the object is made
}

// str and raw return a member of type string and json.RawMessage.
func (d decoded) str(name string) string          { return d.get(name).(string) }
func (d decoded) raw(name string) json.RawMessage { return d.get(name).(json.RawMessage) }
