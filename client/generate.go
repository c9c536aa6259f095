package client

// The types of the API's requests and answers are generated from the
// server's OpenAPI document, with the pinned oapi-codegen (a tool of the
// module, see go.mod); TestTypesAreGenerated fails while they are stale.
//go:generate go tool oapi-codegen -config oapi-codegen.yaml -o types.gen.go ../http/openapi.json
