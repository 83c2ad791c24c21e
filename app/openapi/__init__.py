"""The OpenAPI document of every JSON route: served at /api/openapi.json, rendered in docs/."""
