"""The hub's HTTP API surface for integrators: the native till API's views and its OpenAPI schema."""
