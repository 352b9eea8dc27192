"""RQ jobs of the dispatch engine: one per campaign (cut into batches), one per batch,
and the drain job of the stream of small messages (kwtsms.dispatch.stream).

`dispatch_message` is what kwtsms.messages.service enqueues after a campaign's send
commits. Batch and drain jobs go to the "dispatch" queue, which the worker serves first.
"""
import logging

from redis.exceptions import RedisError

from ..jobs import job, queue
from . import providers, runner, service, stream

log = logging.getLogger("kwtsms.dispatch")

DISPATCH_QUEUE = "dispatch"
BATCH_JOB = "kwtsms.dispatch.jobs.dispatch_batch"


@job
def dispatch_message(message_id):
    """Cut the message's queued recipients into batches and queue one job per batch."""
    batches = service.plan_batches(message_id)
    for batch in batches:
        service.enqueue_batch(batch)
    return len(batches)


@job
def dispatch_batch(batch_id):
    try:
        return runner.run_batch(batch_id)
    finally:
        _release_if_idle()


@job
def drain_stream():
    try:
        return stream.drain()
    finally:
        _release_if_idle()


def _release_if_idle():
    """Keep binds open while more batches wait; let go of them when the queue is empty."""
    try:
        waiting = queue(DISPATCH_QUEUE).count
    except RedisError:
        waiting = 0
    except Exception:  # noqa: BLE001 - no Redis configured (a test running jobs directly)
        waiting = 0
    if not waiting:
        providers.release_all()
