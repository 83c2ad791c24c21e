"""Code that runs only in Celery workers: the tasks (`tasks/`), the private-API transport
(`transport/`), heartbeats, metrics and dead letter. The web tier never imports it."""
