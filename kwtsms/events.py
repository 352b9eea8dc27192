"""Signals between areas that must not import each other.

recipients_finalized: sent by the dispatch engine after the commit that gave
recipients their final state (delivered, failed, rejected, expired, cancelled).
Receivers get `message_id` and `recipient_ids`; the developer API uses it to
push delivery reports to an account's webhook. Receivers must be quick (queue
a job) and must not raise.
"""
from blinker import Namespace

_signals = Namespace()
recipients_finalized = _signals.signal("recipients-finalized")
