"""Whether a storage message carries one event (`process_event_async`) or a batch."""

from enum import Enum


class Shape(Enum):
    """The storage task a message goes to: one event, or a batch of records."""

    SINGLE_EVENT = "single_event"
    BATCH = "batch"
