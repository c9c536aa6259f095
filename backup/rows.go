package backup

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/custodian-crm/custodian/sqlstore"
)

// A row-by-row backup holds one file per table, "<table>.rows": one JSON
// array per line, one value per column in the manifest's column order. A
// value is null, a number (integer), a string, true or false, {"b":
// base64} for bytes, or {"t": RFC 3339} for a time, so that every value
// comes back as the type it was read as.

// exportTable writes every row of t, as ctx's snapshot of store sees it,
// to the new file p; row is called after each.
func exportTable(ctx context.Context, store *sqlstore.Store, t sqlstore.Table, p string, row func()) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600) // #nosec G304 -- a file in the staging directory
	if err != nil {
		return err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	var line []byte
	err = store.ScanTable(ctx, t, func(values []any) error {
		line = line[:0]
		line = append(line, '[')
		for i, v := range values {
			if i > 0 {
				line = append(line, ',')
			}
			var err error
			if line, err = appendValue(line, v); err != nil {
				return fmt.Errorf("backup: %s.%s: %w", t.Name, t.Columns[i], err)
			}
		}
		line = append(line, ']', '\n')
		_, err := w.Write(line)
		row()
		return err
	})
	if err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}

// appendValue appends v's encoding.
func appendValue(dst []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(dst, "null"...), nil
	case int64:
		return strconv.AppendInt(dst, v, 10), nil
	case int32:
		return strconv.AppendInt(dst, int64(v), 10), nil
	case int16:
		return strconv.AppendInt(dst, int64(v), 10), nil
	case bool:
		return strconv.AppendBool(dst, v), nil
	case string:
		b, err := json.Marshal(v)
		return append(dst, b...), err
	case []byte:
		dst = append(dst, `{"b":"`...)
		dst = base64.StdEncoding.AppendEncode(dst, v)
		return append(dst, `"}`...), nil
	case time.Time:
		dst = append(dst, `{"t":"`...)
		dst = v.AppendFormat(dst, time.RFC3339Nano)
		return append(dst, `"}`...), nil
	}
	return dst, fmt.Errorf("a value of type %T cannot be backed up", v)
}

// rowReader reads the rows of a table file.
type rowReader struct {
	name string
	sc   *bufio.Scanner
	line int
	vals []any
}

func newRowReader(name string, r io.Reader, columns int) *rowReader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	return &rowReader{name: name, sc: sc, vals: make([]any, columns)}
}

// next returns the next row's values, nil after the last; the slice is
// reused.
func (r *rowReader) next() ([]any, error) {
	if !r.sc.Scan() {
		if err := r.sc.Err(); err != nil {
			return nil, fmt.Errorf("%s: %w", r.name, err)
		}
		return nil, nil
	}
	r.line++
	var raw []json.RawMessage
	if err := json.Unmarshal(r.sc.Bytes(), &raw); err != nil {
		return nil, fmt.Errorf("%s line %d: %w", r.name, r.line, err)
	}
	if len(raw) != len(r.vals) {
		return nil, fmt.Errorf("%s line %d: %d values for %d columns", r.name, r.line, len(raw), len(r.vals))
	}
	for i, m := range raw {
		v, err := decodeValue(m)
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %w", r.name, r.line, err)
		}
		r.vals[i] = v
	}
	return r.vals, nil
}

// decodeValue reads one value as appendValue wrote it.
func decodeValue(m json.RawMessage) (any, error) {
	m = bytes.TrimSpace(m)
	if len(m) == 0 {
		return nil, errors.New("an empty value")
	}
	switch c := m[0]; {
	case c == 'n':
		return nil, nil
	case c == 't' || c == 'f':
		var b bool
		err := json.Unmarshal(m, &b)
		return b, err
	case c == '"':
		var s string
		err := json.Unmarshal(m, &s)
		return s, err
	case c == '{':
		var o struct {
			B *string `json:"b"`
			T *string `json:"t"`
		}
		if err := json.Unmarshal(m, &o); err != nil {
			return nil, err
		}
		switch {
		case o.B != nil:
			return base64.StdEncoding.DecodeString(*o.B)
		case o.T != nil:
			return time.Parse(time.RFC3339Nano, *o.T)
		}
		return nil, errors.New("an object that is neither bytes nor a time")
	default:
		return strconv.ParseInt(string(m), 10, 64)
	}
}
