package authgin

import (
	"bytes"
	_ "embed"
)

//go:embed docs/openapi.yaml
var openapiYAML []byte

// OpenAPI returns the OpenAPI 3.1 document of the routes Register mounts,
// with the group at /api/users as in examples/basic, for apps that serve
// or publish it (examples/basic serves it at /openapi.yaml). Every HTTP
// test of the package checks its requests and responses against it.
func OpenAPI() []byte { return bytes.Clone(openapiYAML) }
