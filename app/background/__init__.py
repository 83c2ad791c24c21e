"""Background work: alerts, webhooks, digests, retention, re-validation, exports, jobs
and hourly maintenance. Plain functions the `batch_processing` and `emails` tasks call,
tested directly."""
