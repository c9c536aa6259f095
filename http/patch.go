package http

import (
	"bytes"
	"encoding/json"
	"reflect"

	"github.com/custodian-crm/custodian"
)

// mergePatch is a JSON merge patch (RFC 7396) of a customer: a member that
// is absent leaves the field alone, null clears it, a value sets it. It is
// made once from the field table: a raw member for each personal unit,
// then tags and status; a unit of parts (the address) is itself a merge
// patch of its parts, decoded into its patchParts object.
var mergePatch = newObject(patchMembers())

// patchParts holds the object each unit of parts decodes into in a patch.
var patchParts = partObjects(reflect.TypeFor[json.RawMessage]())

func patchMembers() []member {
	var ms []member
	for _, u := range custodian.PersonalUnits() {
		ms = append(ms, member{u.Name, reflect.TypeFor[json.RawMessage]()})
	}
	return append(ms, member{"tags", reflect.TypeFor[json.RawMessage]()}, member{"status", reflect.TypeFor[json.RawMessage]()})
}

var jsonNull = []byte("null")

// decodeMergePatch turns a merge-patch body into a CustomerPatch, naming
// every field whose value has the wrong type: fields of their own first,
// then status and tags, then the parts of units of parts.
func decodeMergePatch(b []byte) (custodian.CustomerPatch, error) {
	var p custodian.CustomerPatch
	mp, err := mergePatch.decode(b, "")
	if err != nil {
		return p, err
	}
	var errs []custodian.FieldError
	str := func(field string, raw json.RawMessage) *string {
		if raw == nil {
			return nil
		}
		s := ""
		if !bytes.Equal(raw, jsonNull) && json.Unmarshal(raw, &s) != nil {
			errs = append(errs, custodian.FieldError{Field: field, Message: "Must be a JSON string or null."})
		}
		return &s
	}
	units := custodian.PersonalUnits()
	for _, u := range units {
		if !u.HasParts() {
			*u.Fields[0].Patch(&p) = str(u.Name, mp.raw(u.Name))
		}
	}
	if s := str("status", mp.raw("status")); s != nil {
		st := custodian.Status(*s)
		p.Status = &st
	}
	if raw := mp.raw("tags"); raw != nil {
		tags := []string{}
		if !bytes.Equal(raw, jsonNull) && json.Unmarshal(raw, &tags) != nil {
			errs = append(errs, custodian.FieldError{Field: "tags", Message: "Must be a JSON array of strings or null."})
		}
		p.Tags = &tags
	}
	for _, u := range units {
		raw := mp.raw(u.Name)
		if !u.HasParts() || raw == nil {
			continue
		}
		if bytes.Equal(raw, jsonNull) {
			// null clears every part.
			for _, pf := range u.Fields {
				empty := ""
				*pf.Patch(&p) = &empty
			}
		} else if parts, err := patchParts[u.Name].decode(raw, u.Name+"."); err != nil {
			if fe := custodian.ErrorFields(err); len(fe) > 0 {
				errs = append(errs, fe...)
			} else {
				errs = append(errs, custodian.FieldError{Field: u.Name, Message: "Must be a JSON object or null."})
			}
		} else {
			// Present, even as {}: the patch has the unit, with the
			// parts it names.
			for _, pf := range u.Fields {
				*pf.Patch(&p) = str(pf.Name, parts.raw(pf.Part()))
			}
		}
	}
	if len(errs) > 0 {
		return p, errorf(custodian.EINVALID, "The patch has invalid fields.", errs...)
	}
	return p, nil
}
