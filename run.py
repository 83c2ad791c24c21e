"""Entry points: `gunicorn run:app`, `celery -A run.celery_app …`, `python run.py` (standalone)."""

from app import create_app

app = create_app()


def __getattr__(name: str):
    """`run.celery_app`: the workers' Celery, built only when a worker, beat or Flower asks,
    so that gunicorn never loads worker code."""
    if name == "celery_app":
        from app.worker.celery_app import worker_celery

        return worker_celery(app)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if __name__ == "__main__":
    from app.cli.standalone import main

    main()
