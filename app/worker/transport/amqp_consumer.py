"""Celery's consumer without the native-delayed-delivery step, for quorum queues.

With quorum queues Celery 5.7 adds a `DelayedDelivery` consumer step: at every consumer
start it declares 28 `celery_delayed_*` exchanges and queues and binds every task queue
to them, once per broker URL, retrying each URL that does not answer. After a RabbitMQ
node died, that retrying kept a worker from consuming for 18.4 s (measured); without
the step it consumed again after about 1.2 s. Our queues sit on direct exchanges, which
native delayed delivery does not support (kombu logs so and binds nothing), so the step
gives this project nothing: a retry's countdown is held by the worker until it is due,
as with Redis. See docs/scaling.md, "What a failover costs".

Private Celery names it relies on (no public setting removes a default consumer step):
`Consumer.Blueprint.default_steps`, listed in `worker/transport/library_versions.py`.
"""

from __future__ import annotations

from celery.worker.consumer import Consumer as CeleryConsumer

DELAYED_DELIVERY_STEP = "celery.worker.consumer.delayed_delivery:DelayedDelivery"


class Consumer(CeleryConsumer):
    """The consumer Celery builds, minus the DelayedDelivery step."""

    class Blueprint(CeleryConsumer.Blueprint):
        default_steps = [
            step for step in CeleryConsumer.Blueprint.default_steps if step != DELAYED_DELIVERY_STEP
        ]
