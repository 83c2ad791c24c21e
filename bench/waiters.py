"""What waiting CI clients cost ingestion, and how soon a waiter wakes after the commit.

Against a running server (gunicorn + a `default` pool), with an app's ingest key and
read token:

    python -m bench.waiters --url http://127.0.0.1:8000 --app APP_ID --key lvd_… \
        --token lvdr_… --waiters 200 --seconds 10 --posters 8

1. ingest alone: `--posters` threads POST single events for `--seconds`;
2. the same while `--waiters` threads hold `GET …/events/<unknown>?wait=30` open (each
   asks again when answered), counting the waiters' answers (404 at the end of a wait,
   503 beyond TEST_API_MAX_WAITERS);
3. wake-up: `--wakes` waiters for eventIds not sent yet, then the events are posted one by
   one; each waiter's return time minus the event's `stored_at` (set just before the
   storage commit, same clock) is how late the waiter woke.

Prints one JSON object. Not a test: figures depend on the machine (docs/testing-api.md).
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
import uuid
from datetime import datetime

import requests


def post_for(url: str, app_id: str, key: str, seconds: float, posters: int) -> float:
    """POST single events from `posters` threads for `seconds`; return events per second."""
    done = [0] * posters
    stop = time.monotonic() + seconds

    def poster(index: int) -> None:
        session = requests.Session()
        while time.monotonic() < stop:
            answer = session.post(
                f"{url}/api/logs/{app_id}",
                json={"eventName": "bench_wait", "n": done[index]},
                headers={"X-API-Key": key},
                timeout=30,
            )
            if answer.status_code == 202:
                done[index] += 1

    threads = [threading.Thread(target=poster, args=(i,)) for i in range(posters)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(done) / (time.monotonic() - started)


def hold_waiters(
    url: str, app_id: str, token: str, count: int, stop: threading.Event
) -> tuple[dict, list[threading.Thread]]:
    """Start `count` threads that keep a 30 s wait open until `stop`; return the answer
    counts and the threads."""
    answers: dict[int, int] = {}
    lock = threading.Lock()

    def waiter() -> None:
        session = requests.Session()
        while not stop.is_set():
            answer = session.get(
                f"{url}/api/apps/{app_id}/events/never-{uuid.uuid4()}?wait=30",
                headers={"Authorization": f"Bearer {token}"},
                timeout=60,
            )
            with lock:
                answers[answer.status_code] = answers.get(answer.status_code, 0) + 1
            if answer.status_code == 503:
                stop.wait(float(answer.headers.get("Retry-After", 1)))

    threads = [threading.Thread(target=waiter, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    return answers, threads


def wake_delays(url: str, app_id: str, key: str, token: str, count: int) -> list[float]:
    """Seconds from each event's storage commit to its waiter's answer."""
    ids = [f"wake-{uuid.uuid4()}" for _ in range(count)]
    delays: list[float] = []

    def waiter(event_id: str) -> None:
        while True:
            answer = requests.get(
                f"{url}/api/apps/{app_id}/events/{event_id}?wait=30",
                headers={"Authorization": f"Bearer {token}"},
                timeout=60,
            )
            if answer.status_code != 503:
                break
            time.sleep(float(answer.headers.get("Retry-After", 1)))
        returned = time.time()
        if answer.status_code == 200:
            stored = datetime.fromisoformat(answer.json()["stored_at"]).timestamp()
            delays.append(returned - stored)

    threads = [threading.Thread(target=waiter, args=(i,)) for i in ids]
    for thread in threads:
        thread.start()
    time.sleep(2)  # every waiter registered and subscribed
    for event_id in ids:
        requests.post(
            f"{url}/api/logs/{app_id}",
            json={"eventName": "bench_wait", "eventId": event_id},
            headers={"X-API-Key": key},
            timeout=30,
        )
        time.sleep(0.2)
    for thread in threads:
        thread.join()
    return delays


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--app", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--waiters", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--posters", type=int, default=8)
    parser.add_argument("--wakes", type=int, default=20)
    args = parser.parse_args()
    alone = post_for(args.url, args.app, args.key, args.seconds, args.posters)
    stop = threading.Event()
    answers, held = hold_waiters(args.url, args.app, args.token, args.waiters, stop)
    time.sleep(3)  # the waiters are in
    with_waiters = post_for(args.url, args.app, args.key, args.seconds, args.posters)
    stop.set()
    for thread in held:  # their last waits end within 30 s
        thread.join()
    delays = sorted(wake_delays(args.url, args.app, args.key, args.token, args.wakes))
    print(
        json.dumps(
            {
                "ingest_alone_per_s": round(alone, 1),
                "ingest_with_waiters_per_s": round(with_waiters, 1),
                "ratio": round(with_waiters / alone, 3) if alone else None,
                "waiters": args.waiters,
                "waiter_answers": answers,
                "woken": len(delays),
                "wake_after_commit_ms": {
                    "median": round(statistics.median(delays) * 1000, 1) if delays else None,
                    "max": round(delays[-1] * 1000, 1) if delays else None,
                },
            }
        )
    )


if __name__ == "__main__":
    main()
