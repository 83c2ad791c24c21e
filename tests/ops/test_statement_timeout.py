"""Every SQL statement of a gunicorn web worker runs under WEB_STATEMENT_TIMEOUT_MS."""

from __future__ import annotations

import re
import threading

import requests
from sqlalchemy.engine import make_url

from tests.accounts import PASSWORD
from tests.support.databases import admin_connection
from tests.support.environment import TEST_DATABASE_URL
from tests.support.servers import gunicorn


def test_a_web_request_blocked_in_the_database_ends_at_the_statement_timeout(app, make_user):
    address = make_user()
    database = make_url(TEST_DATABASE_URL).database
    with gunicorn(env={"WEB_STATEMENT_TIMEOUT_MS": "1000"}, workers=1) as url:
        browser = requests.Session()
        form = browser.get(f"{url}/auth/login", timeout=10).text
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form).group(1)
        outcome: dict = {}

        def log_in() -> None:
            data = {"csrf_token": token, "email": address, "password": PASSWORD}
            outcome["status"] = browser.post(f"{url}/auth/login", data=data, timeout=60).status_code

        with admin_connection(database) as admin, admin.cursor() as cursor:
            admin.autocommit = False
            cursor.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")  # held until rollback
            attempt = threading.Thread(target=log_in, daemon=True)
            attempt.start()
            attempt.join(timeout=20)
            still_waiting = attempt.is_alive()
            admin.rollback()
        attempt.join(timeout=30)
    assert not still_waiting, "the login waited on the lock instead of timing out"
    assert outcome["status"] == 500
