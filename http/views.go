package http

import (
	"log/slog"
	"net/http"
	"net/url"

	"github.com/custodian-crm/custodian"
)

func viewPath(id string) string { return "/api/views/" + url.PathEscape(id) + "/" }

// handleListViews lists the caller's saved views and the shared ones.
func handleListViews(logger *slog.Logger, svc custodian.ViewService) http.Handler {
	return handle(logger, func(r *http.Request, _ *none) (int, any, error) {
		vs, err := svc.Views(r.Context(), principal(r))
		if vs == nil {
			vs = []custodian.View{}
		}
		return http.StatusOK, map[string]any{"items": vs}, err
	})
}

// handleCreateView saves a view: 201 with Location and ETag.
func handleCreateView(logger *slog.Logger, svc custodian.ViewService) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in custodian.ViewInput
		err := decodeBody(w, r, &in)
		var v *custodian.View
		if err == nil {
			v, err = svc.CreateView(r.Context(), principal(r), in)
		}
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		writeVersioned(w, http.StatusCreated, viewPath(v.ID), v.Version, v)
	})
}

// handleGetView answers one view the caller may see, with its ETag.
func handleGetView(logger *slog.Logger, svc custodian.ViewService) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, err := svc.View(r.Context(), principal(r), r.PathValue("id"))
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		writeVersioned(w, http.StatusOK, "", v.Version, v)
	})
}

// handleUpdateView renames a view or replaces its state; If-Match is
// optional.
func handleUpdateView(logger *slog.Logger, svc custodian.ViewService) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p custodian.ViewPatch
		err := decodeBody(w, r, &p)
		var version int64
		if err == nil {
			version, err = optionalIfMatch(r, "view")
		}
		var v *custodian.View
		if err == nil {
			v, err = svc.UpdateView(r.Context(), principal(r), r.PathValue("id"), version, p)
		}
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		writeVersioned(w, http.StatusOK, "", v.Version, v)
	})
}

// handleDeleteView removes a view: 204.
func handleDeleteView(logger *slog.Logger, svc custodian.ViewService) http.Handler {
	return handle(logger, func(r *http.Request, _ *none) (int, any, error) {
		return http.StatusNoContent, nil, svc.DeleteView(r.Context(), principal(r), r.PathValue("id"))
	})
}
