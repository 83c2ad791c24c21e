"""Entry points: `gunicorn run:app`, `celery -A run.celery_app …`, `python run.py` (standalone)."""

from app import create_app

app = create_app()
celery_app = app.extensions["celery"]

if __name__ == "__main__":
    from app.standalone import main

    main()
