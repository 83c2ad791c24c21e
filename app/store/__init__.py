"""Writing events and counters, apps, keys, schemas and memberships; the read queries
that pages, the CLI and the workers use."""
