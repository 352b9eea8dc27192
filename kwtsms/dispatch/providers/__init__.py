"""Providers behind one interface (base.Provider), one instance per process and
provider row, rebuilt when the admin changes the row."""
import logging

from ...models import DispatchProvider
from .base import Provider, ProviderError  # noqa: F401

log = logging.getLogger("kwtsms.dispatch")
_instances = {}  # provider id -> (updated_at, instance)


def _classes():
    from .kwtsms_upstream import UpstreamProvider
    from .sink import SinkProvider
    from .smpp import SmppProvider
    return {DispatchProvider.SINK: SinkProvider, DispatchProvider.SMPP: SmppProvider,
            DispatchProvider.KWTSMS: UpstreamProvider}


def get(row, config):
    cached = _instances.get(row.id)
    if cached is not None and cached[0] == row.updated_at:
        return cached[1]
    if cached is not None:
        _close(cached[1])
    instance = _classes()[row.kind](row, config)
    _instances[row.id] = (row.updated_at, instance)
    return instance


def _close(instance):
    try:
        instance.close()
    except Exception:  # noqa: BLE001
        log.exception("closing provider %s failed", instance.id)


def release_all():
    """Going idle: record receipts still waiting on our binds, acknowledge them, let go of the binds."""
    from .. import service
    for provider_id, (_updated, instance) in list(_instances.items()):
        try:
            drain = getattr(instance, "drain", None)
            receipts = drain() if drain else []
            if receipts:
                service.record_receipts(receipts)
                instance.after_commit()
            instance.release()
        except Exception:  # noqa: BLE001 - never let idling break the worker
            log.exception("releasing provider %s failed", provider_id)


def close_all():
    for _updated, instance in list(_instances.values()):
        _close(instance)
    _instances.clear()
