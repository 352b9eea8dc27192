"""The credit ledger: the only code that changes an account's balance.

Every change is one LedgerEntry written in the same transaction as a
conditional UPDATE of the balance (`balance = balance + n WHERE balance >= -n`),
so the balance always equals the sum of the account's rows and can never go
negative, however many processes charge the same account at once. Callers that
must combine a charge with other writes (a send creating its message) call
these functions inside their own `db.atomic()` block; the nested call becomes a
savepoint of the caller's transaction.
"""
from contextlib import nullcontext
from dataclasses import dataclass

from peewee import fn

from .db import db, fetch_one
from .models import Account, LedgerEntry, utcnow


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


_DEBIT = "UPDATE account SET balance = balance + ? WHERE id = ? AND balance >= ? RETURNING balance"
_CREDIT = "UPDATE account SET balance = balance + ? WHERE id = ? RETURNING balance"
_ENTRY_INSERT = "INSERT INTO ledger_entry (account_id, kind, amount, balance_after, actor_id, reason, reference, created_at)"
_ENTRY = _ENTRY_INSERT + " VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"


def _apply(account_id, amount, kind, *, actor=None, reason="", reference=""):
    """Move the balance by `amount` and write its row. Must run inside a transaction.

    Raw SQL: every send pays for this, and peewee would spend longer building the
    three statements than the database spends running them.
    """
    if amount < 0:
        row = fetch_one(_DEBIT, (amount, account_id, -amount))
    else:
        row = fetch_one(_CREDIT, (amount, account_id))
    if row is None:
        available = fetch_one("SELECT balance FROM account WHERE id = ?", (account_id,))
        if available is None:
            raise LedgerError(f"account {account_id} does not exist")
        raise InsufficientCredit(available=available[0], required=-amount)
    # RETURNING gives exactly the balance our change produced: our UPDATE holds the
    # row (PostgreSQL) or the database (SQLite) until commit.
    entry = LedgerEntry(account=account_id, kind=kind, amount=amount, balance_after=row[0],
                        actor=_account_id(actor) if actor is not None else None,
                        reason=reason[:500], reference=reference[:100], created_at=utcnow())
    entry.id = fetch_one(_ENTRY, (account_id, kind, amount, entry.balance_after, entry.actor_id, entry.reason,
                                  entry.reference, entry.created_at))[0]
    return entry


def debit_ctes(account_id, points, *, reason, reference, now):
    """A send's charge as two common table expressions for one PostgreSQL statement:
    `debit` (the balance after; no row when it is short, and then nothing changes) and
    its ledger row. Returns (SQL with `?` placeholders, params). The caller writes what
    the charge pays for in the same statement, from `debit`: the same UPDATE and
    INSERT as charge(), without the round trips of a transaction around them."""
    points = _positive(points)
    return (f"debit AS ({_DEBIT}), entry AS ({_ENTRY_INSERT} SELECT ?, ?, ?, balance, NULL, ?, ?, ? FROM debit)",
            [-points, account_id, points, account_id, LedgerEntry.SEND, -points, reason[:500], reference[:100], now])


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
    # Inside the caller's transaction (a send) no savepoint is needed: a refused
    # charge has written nothing, and saves every send two statements.
    with (nullcontext() if db.in_transaction() else db.atomic()):
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
