"""gunicorn.conf.py unchanged, except that the access log is off.

gunicorn cannot switch the access log off from the environment: GUNICORN_ACCESS_LOG=""
makes it open a file named "" and fail at start. Both the ceiling and the real app are
served with this file, so they share every other setting (workers, worker class, limits).
"""

import runpy
from pathlib import Path

_production = runpy.run_path(str(Path(__file__).resolve().parent.parent / "gunicorn.conf.py"))
globals().update({k: v for k, v in _production.items() if not k.startswith("_")})
accesslog = None
