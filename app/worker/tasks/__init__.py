"""Every Celery task, one module per pool's concern. Thin: each unpacks JSON-safe
arguments, calls the plain function that holds the logic, and owns its retries.

Importing this package registers all of them (`worker.celery_app` does, once)."""

from app.worker.tasks import aggregation, jobs, mail, storage, webhooks  # noqa: F401
