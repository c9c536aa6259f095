package client

import (
	"fmt"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// queryOf returns the query string of a list's parameters: each field
// with a form tag that is set (not its zero value, or a non-nil pointer),
// under the tag's name.
func queryOf(params any) url.Values {
	q := url.Values{}
	v := reflect.ValueOf(params)
	for i := range v.NumField() {
		name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("form"), ",")
		if name == "" {
			continue
		}
		f := v.Field(i)
		if f.Kind() == reflect.Pointer {
			if f.IsNil() {
				continue
			}
			f = f.Elem()
		} else if f.IsZero() {
			continue
		}
		switch x := f.Interface().(type) {
		case time.Time:
			q.Set(name, x.Format(time.RFC3339Nano))
		case bool:
			q.Set(name, strconv.FormatBool(x))
		default:
			q.Set(name, fmt.Sprint(x))
		}
	}
	return q
}
