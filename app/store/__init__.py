"""The write path (events exactly once, counters), the catalog (apps, keys, schemas,
memberships), and the dashboard's reads (`reads/`) and rollups (`rollups/`)."""
