package http

import (
	"bytes"
	"encoding/json"

	"github.com/custodian-crm/custodian"
)

// mergePatch is a JSON merge patch (RFC 7396) of a customer: a member that
// is absent leaves the field alone, null clears it, a value sets it.
type mergePatch struct {
	Name    json.RawMessage `json:"name"`
	Email   json.RawMessage `json:"email"`
	Phone   json.RawMessage `json:"phone"`
	Company json.RawMessage `json:"company"`
	Address json.RawMessage `json:"address"`
	Notes   json.RawMessage `json:"notes"`
	Tags    json.RawMessage `json:"tags"`
	Status  json.RawMessage `json:"status"`
}

type addressMergePatch struct {
	Street     json.RawMessage `json:"street"`
	City       json.RawMessage `json:"city"`
	PostalCode json.RawMessage `json:"postal_code"`
	Country    json.RawMessage `json:"country"`
}

var jsonNull = []byte("null")

// decodeMergePatch turns a merge-patch body into a CustomerPatch, naming
// every field whose value has the wrong type.
func decodeMergePatch(b []byte) (custodian.CustomerPatch, error) {
	var mp mergePatch
	var p custodian.CustomerPatch
	if err := decodeStrict(b, &mp, ""); err != nil {
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
	p.Name = str("name", mp.Name)
	p.Email = str("email", mp.Email)
	p.Phone = str("phone", mp.Phone)
	p.Company = str("company", mp.Company)
	p.Notes = str("notes", mp.Notes)
	if s := str("status", mp.Status); s != nil {
		st := custodian.Status(*s)
		p.Status = &st
	}
	if mp.Tags != nil {
		tags := []string{}
		if !bytes.Equal(mp.Tags, jsonNull) && json.Unmarshal(mp.Tags, &tags) != nil {
			errs = append(errs, custodian.FieldError{Field: "tags", Message: "Must be a JSON array of strings or null."})
		}
		p.Tags = &tags
	}
	if mp.Address != nil {
		var ap addressMergePatch
		if bytes.Equal(mp.Address, jsonNull) {
			empty := ""
			p.Address = &custodian.AddressPatch{Street: &empty, City: &empty, PostalCode: &empty, Country: &empty}
		} else if err := decodeStrict(mp.Address, &ap, "address."); err != nil {
			if fe := custodian.ErrorFields(err); len(fe) > 0 {
				errs = append(errs, fe...)
			} else {
				errs = append(errs, custodian.FieldError{Field: "address", Message: "Must be a JSON object or null."})
			}
		} else {
			p.Address = &custodian.AddressPatch{
				Street: str("address.street", ap.Street), City: str("address.city", ap.City),
				PostalCode: str("address.postal_code", ap.PostalCode), Country: str("address.country", ap.Country),
			}
		}
	}
	if len(errs) > 0 {
		return p, errorf(custodian.EINVALID, "The patch has invalid fields.", errs...)
	}
	return p, nil
}
