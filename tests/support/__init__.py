"""What the tests share, by concern: environment (per-worker settings), processes
(workers, gunicorn, polling), servers (private Redis and PostgreSQL, proxies, ports,
databases) and factories (records, events, apps with their own settings)."""
