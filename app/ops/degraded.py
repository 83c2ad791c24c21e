"""Events this web process stored synchronously because the broker was down (the
degraded path), read by /health and the system page."""


class DegradedCounter:
    """Counts events this process stored synchronously because the broker was down."""

    count = 0
