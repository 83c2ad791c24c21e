"""SQL that fills a table with a million-ish UUIDv7-shaped events in seconds (generate_series).

Shared by the benchmark's dashboard phase and the EXPLAIN test: one event every 2.5 s
going back in time, 8 % invalid (one /userId type error), 2 % unplanned, 20 event names;
every 50th row belongs to a second app.
"""

from __future__ import annotations


def events_sql(table: str, app_id: str, other_app_id: str, rows: int) -> str:
    """Return the INSERT that generates `rows` events into `table`."""
    return f"""
INSERT INTO {table} (id, client_event_id, app_id, event_name, payload, payload_hash,
                     status, errors, schema_version, client_ts, received_at, stored_at)
SELECT (lpad(to_hex((extract(epoch FROM ts) * 1000)::bigint), 12, '0') || '7'
        || substr(md5(i::text), 1, 19))::uuid,
       NULL, CASE WHEN i % 50 = 0 THEN '{other_app_id}'::uuid ELSE '{app_id}'::uuid END,
       'event_' || (i % 20),
       jsonb_build_object('eventName', 'event_' || (i % 20), 'userId', i, 'sku', 'SKU-' || i),
       md5(i::text),
       CASE WHEN i % 100 < 8 THEN 'invalid' WHEN i % 100 < 10 THEN 'unplanned' ELSE 'valid' END,
       CASE WHEN i % 100 < 8
            THEN '[{{"path": "/userId", "keyword": "type", "message": "bad"}}]'::jsonb
            ELSE '[]'::jsonb END,
       1, NULL, ts, ts
FROM (SELECT i, now() - (i * interval '2.5 seconds') AS ts
      FROM generate_series(1, {rows}) AS i) AS generated
"""


def counters_sql(events_table: str, counts_table: str) -> str:
    """Return the INSERT that makes the per-minute counters equal to the generated rows."""
    return f"""
INSERT INTO {counts_table} (app_id, minute, event_name, status, count)
SELECT app_id, date_trunc('minute', received_at), event_name, status, count(*)
FROM {events_table} GROUP BY 1, 2, 3, 4
"""
