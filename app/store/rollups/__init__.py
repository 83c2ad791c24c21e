"""Hourly and daily rollups (written by `batch_processing`), their deltas and which
hours they hold complete."""
