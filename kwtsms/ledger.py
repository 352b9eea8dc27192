"""The credit ledger: the only code that changes an account's balance.

Every change is one LedgerEntry written in the same transaction as a
conditional UPDATE of the balance (`balance = balance + n WHERE balance >= -n`),
so the balance always equals the sum of the account's rows and can never go
negative, however many processes charge the same account at once. Callers that
must combine a charge with other writes (a send creating its message) call
these functions inside their own `db.atomic()` block; the nested call becomes a
savepoint of the caller's transaction.
"""
from dataclasses import dataclass

from peewee import fn

from .db import db
from .models import Account, LedgerEntry


class LedgerError(ValueError):
    """A ledger operation was refused; nothing was changed."""


@dataclass
class InsufficientCredit(LedgerError):
    available: int
    required: int

    def __str__(self):
        return f"balance {self.available} is lower than the {self.required} points required"

    @property
    def missing(self):
        return self.required - self.available


def _account_id(account):
    return account.id if isinstance(account, Account) else int(account)


def _apply(account_id, amount, kind, *, actor=None, reason="", reference=""):
    """Move the balance by `amount` and write its row. Must run inside a transaction."""
    update = Account.update(balance=Account.balance + amount).where(Account.id == account_id)
    if amount < 0:
        update = update.where(Account.balance >= -amount)
    if update.execute() != 1:
        available = Account.select(Account.balance).where(Account.id == account_id).scalar()
        if available is None:
            raise LedgerError(f"account {account_id} does not exist")
        raise InsufficientCredit(available=available, required=-amount)
    # Our UPDATE holds the row (PostgreSQL) or the database (SQLite) until
    # commit, so this read sees exactly the balance our change produced.
    balance_after = Account.select(Account.balance).where(Account.id == account_id).scalar()
    return LedgerEntry.create(
        account=account_id,
        kind=kind,
        amount=amount,
        balance_after=balance_after,
        actor=_account_id(actor) if actor is not None else None,
        reason=reason[:500],
        reference=reference[:100],
    )


def _positive(points):
    if not isinstance(points, int) or isinstance(points, bool) or points <= 0:
        raise LedgerError("points must be a whole number above zero")
    return points


def credit(account, points, *, kind=LedgerEntry.RECHARGE, actor=None, reason="", reference=""):
    """Add points (a recharge, or any other positive movement)."""
    with db.atomic():
        return _apply(_account_id(account), _positive(points), kind,
                      actor=actor, reason=reason, reference=reference)


def charge(account, points, *, kind=LedgerEntry.SEND, actor=None, reason="", reference=""):
    """Take points; raises InsufficientCredit (and changes nothing) when the balance is short."""
    with db.atomic():
        return _apply(_account_id(account), -_positive(points), kind,
                      actor=actor, reason=reason, reference=reference)


def refund(account, points, *, actor=None, reason="", reference=""):
    return credit(account, points, kind=LedgerEntry.REFUND, actor=actor,
                  reason=reason, reference=reference)


def transfer(source, target, points, *, actor=None, reason="", reference=""):
    """Move points between two accounts atomically; neither side can go negative."""
    source_id, target_id = _account_id(source), _account_id(target)
    if source_id == target_id:
        raise LedgerError("cannot transfer points to the same account")
    points = _positive(points)
    legs = [
        (source_id, -points, LedgerEntry.TRANSFER_OUT),
        (target_id, points, LedgerEntry.TRANSFER_IN),
    ]
    # Lock rows in id order so two opposite transfers cannot deadlock on PostgreSQL.
    legs.sort(key=lambda leg: leg[0])
    with db.atomic():
        entries = {acc: _apply(acc, amount, kind, actor=actor, reason=reason, reference=reference)
                   for acc, amount, kind in legs}
    return entries[source_id], entries[target_id]


def adjust(account, points, *, actor, reason, reference=""):
    """An operator's manual correction: signed points and a mandatory reason."""
    if not reason or not reason.strip():
        raise LedgerError("an adjustment needs a reason")
    if not isinstance(points, int) or points == 0:
        raise LedgerError("an adjustment must change the balance by a whole number of points")
    with db.atomic():
        return _apply(_account_id(account), points, LedgerEntry.ADJUSTMENT,
                      actor=actor, reason=reason.strip(), reference=reference)


def ledger_sum(account):
    """The sum of the account's rows: always equal to its balance."""
    return (LedgerEntry.select(fn.COALESCE(fn.SUM(LedgerEntry.amount), 0))
            .where(LedgerEntry.account == _account_id(account)).scalar())


def purchased_total(account):
    """All credit ever bought (recharges), as the API's `purchased` reports it."""
    return (LedgerEntry.select(fn.COALESCE(fn.SUM(LedgerEntry.amount), 0))
            .where(LedgerEntry.account == _account_id(account),
                   LedgerEntry.kind == LedgerEntry.RECHARGE).scalar())
