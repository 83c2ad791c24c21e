"""`python -m bench.viewer_session APP_ID`: print a logged-in session cookie for a new
developer who is a member of the app (the benchmark's dashboard viewers use it).

Run with the stack's environment, so the cookie is signed with the web app's secret key.
"""

from __future__ import annotations

import json
import sys
import uuid
from datetime import UTC, datetime


def main(app_id: str) -> None:
    from app import create_app
    from app.extensions import db
    from app.models import User
    from app.store import memberships

    flask_app = create_app()
    with flask_app.app_context():
        user = User(
            email=f"viewer-{uuid.uuid4().hex[:8]}@bench.test",
            confirmed_at=datetime.now(UTC),
            session_epoch=0,
        )
        db.session.add(user)
        db.session.commit()
        memberships.add(uuid.UUID(app_id), user, role="member")
        session_id = user.get_id()
    client = flask_app.test_client()
    now = datetime.now(UTC).timestamp()
    with client.session_transaction() as session:
        session.permanent = True
        session["_user_id"] = session_id
        session["_fresh"] = True
        session["login_at"] = session["seen_at"] = now
    name = flask_app.config["SESSION_COOKIE_NAME"]
    print(json.dumps({"name": name, "value": client.get_cookie(name).value}))


if __name__ == "__main__":
    main(sys.argv[1])
