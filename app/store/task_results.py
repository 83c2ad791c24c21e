"""The result a storage task records, and the part of it one app may read.

One storage message can carry several apps' events (the web's group commit, a worker's
grouped messages), so the result lists how many records each app sent. GET
/api/tasks/<id> answers an app only about a task that holds its events, and with the
whole counts only when no other app's events were in it.
"""

from __future__ import annotations

from collections import Counter


def storage_result(records: list[dict], stored: int) -> dict:
    """The result of storing `records`, `stored` of them new: counts and each app's share."""
    counts = {"received": len(records), "stored": stored, "duplicates": len(records) - stored}
    return {**counts, "apps": _shares(records)}


def parked_result(records: list[dict]) -> dict:
    """The result of records set aside in the dead-letter store after their last retry."""
    counts = {"received": len(records), "stored": 0, "dead_lettered": len(records)}
    return {**counts, "apps": _shares(records)}


def _shares(records: list[dict]) -> dict[str, int]:
    return dict(Counter(str(record["app_id"]) for record in records))


def result_for_app(result: object, app_id: str) -> dict | None:
    """What `app_id` may read of a storage result; None if the task holds none of its events."""
    if not isinstance(result, dict) or not isinstance(result.get("apps"), dict):
        return None
    apps = result["apps"]
    if app_id not in apps:
        return None
    if len(apps) == 1:
        return {key: value for key, value in result.items() if key != "apps"}
    return {"received": apps[app_id]}  # the other apps' counts are theirs
