"""Account scoping: the one way views fetch an account's objects.

A foreign id must look exactly like a missing one (404), so no view ever
queries an account-owned model without going through these helpers.
"""
from flask import abort
from flask_login import current_user


def owned(model, account=None):
    """A select over `model` restricted to the current (or given) account."""
    account = account or current_user
    return model.select().where(model.account == account.id)


def owned_or_404(model, object_id, account=None):
    obj = owned(model, account).where(model.id == object_id).first()
    if obj is None:
        abort(404)
    return obj
