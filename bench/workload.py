"""The events the benchmark and the load test send: one tracking-plan schema and a mix of
valid, invalid and unplanned events shaped like a mobile SDK's (about 300 to 500 bytes)."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

EVENT_NAME = "user_login"

SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["eventName", "eventId", "userId", "timestamp", "method", "device", "session"],
    "properties": {
        "eventName": {"const": EVENT_NAME},
        "eventId": {"type": "string", "minLength": 1, "maxLength": 128},
        "userId": {"type": "integer", "minimum": 1},
        "timestamp": {"type": "string", "format": "date-time"},
        "method": {"enum": ["password", "google", "apple", "otp"]},
        "success": {"type": "boolean"},
        "attempt": {"type": "integer", "minimum": 1, "maximum": 10},
        "network": {"enum": ["wifi", "cellular", "offline"]},
        "device": {
            "type": "object",
            "required": ["os", "osVersion", "model", "appVersion"],
            "properties": {
                "os": {"enum": ["ios", "android"]},
                "osVersion": {"type": "string", "pattern": "^[0-9]+(\\.[0-9]+)*$"},
                "model": {"type": "string", "maxLength": 64},
                "appVersion": {"type": "string", "pattern": "^[0-9]+\\.[0-9]+\\.[0-9]+$"},
                "locale": {"type": "string", "pattern": "^[a-z]{2}(-[A-Z]{2})?$"},
                "screen": {
                    "type": "object",
                    "properties": {
                        "width": {"type": "integer", "minimum": 1},
                        "height": {"type": "integer", "minimum": 1},
                    },
                },
            },
            "additionalProperties": False,
        },
        "session": {
            "type": "object",
            "required": ["id", "number"],
            "properties": {
                "id": {"type": "string", "minLength": 8},
                "number": {"type": "integer", "minimum": 1},
                "durationMs": {"type": "integer", "minimum": 0},
            },
        },
        "context": {
            "type": "object",
            "additionalProperties": {"type": ["string", "number", "boolean"]},
        },
    },
    "additionalProperties": False,
}

# The invalid event below breaks exactly these rules, so its full error list has this length.
INVALID_ERRORS = 6

MIX = {"valid": 0.8, "invalid": 0.1, "unplanned": 0.1}

_MODELS = {
    "ios": ["iPhone15,2", "iPhone14,5", "iPhone16,1", "iPad13,4"],
    "android": ["Pixel 8", "SM-S918B", "M2101K6G", "CPH2449"],
}


def valid_event(rng: random.Random | None = None) -> dict:
    """An event that satisfies SCHEMA, without an eventId (callers add a unique one)."""
    rng = rng or random.Random()
    system = rng.choice(["ios", "android"])
    moment = datetime.now(UTC) - timedelta(seconds=rng.randint(0, 3600))
    return {
        "eventName": EVENT_NAME,
        "userId": rng.randint(1, 5_000_000),
        "timestamp": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "method": rng.choice(["password", "google", "apple", "otp"]),
        "success": rng.random() < 0.9,
        "attempt": rng.randint(1, 3),
        "network": rng.choice(["wifi", "cellular"]),
        "device": {
            "os": system,
            "osVersion": rng.choice(["17.4.1", "16.7", "14", "13.0.2"]),
            "model": rng.choice(_MODELS[system]),
            "appVersion": rng.choice(["4.2.1", "4.3.0", "4.1.9"]),
            "locale": rng.choice(["en-US", "de-DE", "fr", "pt-BR"]),
            "screen": {"width": rng.choice([390, 412, 1080]), "height": rng.choice([844, 915])},
        },
        "session": {
            "id": uuid.UUID(int=rng.getrandbits(128)).hex,
            "number": rng.randint(1, 400),
            "durationMs": rng.randint(0, 900_000),
        },
        "context": {"campaign": rng.choice(["spring", "organic", "referral"]), "ab": "B"},
    }


def invalid_event(rng: random.Random | None = None) -> dict:
    """An event with INVALID_ERRORS violations of SCHEMA."""
    event = valid_event(rng)
    event["userId"] = str(event["userId"])  # type
    event["method"] = "fax"  # enum
    event["device"]["os"] = "windows"  # enum
    event["device"]["appVersion"] = "4.2"  # pattern
    event["device"]["jailbroken"] = True  # additionalProperties
    del event["session"]  # required
    return event


def unplanned_event(rng: random.Random | None = None) -> dict:
    """An event whose name has no schema in the tracking plan."""
    rng = rng or random.Random()
    event = valid_event(rng)
    event["eventName"] = "screen_view"
    event["screen"] = rng.choice(["home", "search", "cart", "checkout", "profile"])
    event["previousScreen"] = rng.choice(["home", "search", "cart"])
    del event["method"], event["success"], event["attempt"]
    return event


KINDS = {"valid": valid_event, "invalid": invalid_event, "unplanned": unplanned_event}


def mixed_event(rng: random.Random | None = None) -> tuple[str, dict]:
    """Return (kind, event) drawn from MIX."""
    rng = rng or random.Random()
    kind = rng.choices(list(MIX), weights=list(MIX.values()))[0]
    return kind, KINDS[kind](rng)


def write_lua_templates(path: Path, count: int = 200, seed: int = 7) -> Path:
    """Write a Lua file returning event templates for bench/lua/ingest.lua.

    Each template is an event's JSON without its opening brace; the script prepends
    `{"eventId":"<unique>",` so every request carries fresh ids. Templates follow MIX.
    """
    rng = random.Random(seed)
    templates = []
    for kind, share in MIX.items():
        for _ in range(round(count * share)):
            body = orjson.dumps(KINDS[kind](rng)).decode()
            assert body.startswith("{") and "]==]" not in body
            templates.append(f"[==[{body[1:]}]==]")
    rng.shuffle(templates)
    path.write_text("return {\n" + ",\n".join(templates) + "\n}\n")
    return path


class LivePoll:
    """What an open live page sends (static/js/live.js): the events after its newest row
    minus a look-back, with the storage mark of its last answer (so that the server can
    answer an idle poll without a query); every FORCED_QUERY_EVERY polls, no mark."""

    LOOKBACK_MS = 10_000
    FORCED_QUERY_EVERY = 10
    NO_EVENT = "00000000-0000-0000-0000-000000000000"

    def __init__(self) -> None:
        self.cursor: str | None = None
        self.mark: str | None = None
        self.polls = 0

    def params(self) -> dict:
        self.polls += 1
        cursor = uuid.UUID(self.cursor or self.NO_EVENT)
        moment = (cursor.int >> 80) - self.LOOKBACK_MS
        after = str(uuid.UUID(int=moment << 80)) if moment > 0 else str(cursor)
        forced = self.polls % self.FORCED_QUERY_EVERY == 0
        return {"after": after, **({"mark": self.mark} if self.mark and not forced else {})}

    def answered(self, body: dict) -> None:
        self.mark = body.get("mark")
        if body["events"] and (self.cursor is None or body["events"][0]["id"] > self.cursor):
            self.cursor = body["events"][0]["id"]
