package http

import (
	"log/slog"
	"net/http"

	"github.com/custodian-crm/custodian"
)

// Route is one entry of the server's routing table: a net/http ServeMux
// pattern (method and path) and its handler. Every route the server answers
// is listed in routes, and nowhere else, so tests and the OpenAPI document
// can be checked against the one table.
type Route struct {
	Method  string
	Path    string
	Handler http.Handler
}

// Pattern returns the ServeMux pattern of the route.
func (r Route) Pattern() string { return r.Method + " " + r.Path }

// routes lists every route.
func routes(logger *slog.Logger, customers custodian.CustomerService, db custodian.Pinger) []Route {
	return []Route{
		{"GET", "/healthz", handleHealthz()},
		{"GET", "/readyz", handleReadyz(logger, db)},
		{"GET", "/api/openapi.json", handleOpenAPI()},

		{"GET", "/api/customers/{$}", handleListCustomers(logger, customers)},
		{"POST", "/api/customers/{$}", handleCreateCustomer(logger, customers)},
		{"GET", "/api/customers/{id}/{$}", handleGetCustomer(logger, customers)},
		{"PUT", "/api/customers/{id}/{$}", handleUpdateCustomer(logger, customers, true)},
		{"PATCH", "/api/customers/{id}/{$}", handleUpdateCustomer(logger, customers, false)},
		{"DELETE", "/api/customers/{id}/{$}", handleDeleteCustomer(logger, customers)},
	}
}
