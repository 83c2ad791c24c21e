"""Entry points: `gunicorn run:app`, `celery -A run.celery_app …`, `python run.py` (standalone),
`celery -A run.monitor_celery flower` (start_flower.sh)."""

from app import create_app

app = create_app()


def __getattr__(name: str):
    """`run.celery_app`: the workers' Celery, built only when a worker, beat or Flower asks,
    so that gunicorn never loads worker code."""
    if name == "celery_app":
        from app.worker.celery_app import worker_celery

        return worker_celery(app)
    if name == "monitor_celery":
        # Flower: the web tier's Celery, on kombu's own Redis transport, which Flower's
        # broker view knows (it refuses the workers' transport by name); no worker code.
        return app.extensions["celery"]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if __name__ == "__main__":
    from app.cli.standalone import main

    main()
