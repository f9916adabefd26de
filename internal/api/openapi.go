package api

import _ "embed"

// OpenAPIDocument is the OpenAPI 3 description of every route in Routes.
//
//go:embed openapi.json
var OpenAPIDocument []byte
