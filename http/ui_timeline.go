package http

import (
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/custodian-crm/custodian"
	"golang.org/x/text/message"
)

// activityForm is the form to log an activity, with its values and errors.
type activityForm struct {
	Type   string
	Date   string
	Text   string
	Errors map[string]string
	Error  string
}

// timelineView is the timeline section of the customer page: one page of
// entries, newest first, the links to the pages around it, and the form.
type timelineView struct {
	Entries []timelineRow
	Page    int
	Prev    string
	Next    string
	Types   []string
	Form    activityForm
}

// timelineRow is a timeline entry with its actor's name and what it says.
type timelineRow struct {
	custodian.TimelineEntry
	ByName string
	// What is the line's headline: the activity type, "Created",
	// "Changed" or the consent change.
	What string
}

// timelineWhat is the headline of a timeline entry, in p's language.
func timelineWhat(p *message.Printer, e custodian.TimelineEntry) string {
	switch {
	case e.Activity != nil:
		return p.Sprintf(keyLabel(e.Kind))
	case e.Action == custodian.ActionCustomerCreate:
		return p.Sprintf("Created")
	case e.Action == custodian.ActionCustomerUpdate:
		return p.Sprintf("Changed")
	case e.Kind == custodian.TimelineConsent:
		return p.Sprintf("%s consent %s", p.Sprintf(keyLabel(e.Consent)), p.Sprintf(e.State))
	}
	return e.Action
}

// timeline builds the timeline section for page of customer id (a page
// past the end shows empty, with a link back).
func (u *ui) timeline(r *http.Request, id string, page int, names *actorNames, form *activityForm) (*timelineView, error) {
	p, err := u.activity.Timeline(r.Context(), id, page)
	if err != nil {
		return nil, err
	}
	v := &timelineView{Page: p.Page, Types: custodian.ActivityTypes}
	for _, e := range p.Entries {
		v.Entries = append(v.Entries, timelineRow{TimelineEntry: e, ByName: names.name(e.Actor), What: timelineWhat(u.printers[u.lang(r)], e)})
	}
	link := func(n int) string {
		return uiCustomerPath(id) + "?" + url.Values{"timeline": {strconv.Itoa(n)}}.Encode() + "#timeline"
	}
	if page > 1 {
		v.Prev = link(page - 1)
	}
	if p.More {
		v.Next = link(page + 1)
	}
	if form != nil {
		v.Form = *form
	} else {
		v.Form = activityForm{Type: custodian.ActivityNote}
	}
	return v, nil
}

// timelinePage reads the timeline page number of the request: 1 when it
// is missing or not a whole number from 1.
func timelinePage(r *http.Request) int {
	n, err := strconv.Atoi(r.URL.Query().Get("timeline"))
	if err != nil || n < 1 {
		return 1
	}
	return n
}

// handleActivityForm logs an activity from the customer page's form.
func (u *ui) handleActivityForm() http.Handler {
	return u.formPost(func(w http.ResponseWriter, r *http.Request) {
		id, f := r.PathValue("id"), r.PostForm
		form := activityForm{Type: f.Get("type"), Date: f.Get("date"), Text: f.Get("text")}
		in := custodian.ActivityInput{Type: form.Type, Text: form.Text}
		var err error
		// The form's date is read, and shown, in UTC.
		if form.Date != "" {
			if in.Date, err = time.ParseInLocation(minuteLayout, form.Date, time.UTC); err != nil {
				err = &custodian.Error{Code: custodian.EINVALID, Message: msg("The activity has invalid fields."),
					Fields: []custodian.FieldError{{Field: "date", Message: msg("Give a date and time.")}}}
			}
		}
		if err == nil {
			_, err = u.activity.LogActivity(r.Context(), id, in)
		}
		u.customerFormDone(w, r, id, err, "timeline", "activity-logged", func() customerForms {
			form.Errors, form.Error = u.fieldErrors(r, err), u.errorMessage(r, err)
			return customerForms{activity: &form}
		})
	})
}
