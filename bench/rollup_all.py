"""`python -m bench.rollup_all APP_ID HOURS`: roll up the app's last HOURS as the
`batch_processing` pool does, and mark those hours complete for the dashboard.

Run with the stack's environment, after the dashboard phase generated its events.
"""

from __future__ import annotations

import sys
import uuid
from datetime import UTC, datetime, timedelta


def main(app_id: str, hours: float) -> None:
    from app import create_app
    from app.store.rollups import compute as rollups
    from app.store.rollups import marks as rollup_marks

    flask_app = create_app()
    with flask_app.app_context():
        now = datetime.now(UTC)
        result = rollups.roll_up(uuid.UUID(app_id), hours, now=now)
        backend = flask_app.extensions["celery"].backend
        rollup_marks.record_run(backend, uuid.UUID(app_id), now - timedelta(hours=hours), now)
    print(result["total"])


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]))
