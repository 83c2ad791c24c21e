"""The web side of an event's path: HTTP views, body limits, validation, the registry
cache, records, group commit and publishing. Its blueprint (`ingest.api`) is mounted at
/api (/api/logs, /api/tasks)."""
