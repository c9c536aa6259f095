package http

import (
	_ "embed"
	"net/http"
)

// openAPI is the API's OpenAPI 3.1 document. A test keeps it true: every
// route in routes is documented and every documented operation exists.
//
//go:embed openapi.json
var openAPI []byte

func handleOpenAPI() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(openAPI)
	})
}
