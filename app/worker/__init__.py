"""Code that runs only in Celery workers: tasks, the Redis transport, grouped storage,
heartbeats, dead letter and mail delivery. The web tier never imports it."""
