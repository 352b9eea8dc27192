"""The credit ledger: balance equals the sum of rows and never goes negative."""
import threading

import pytest

from kwtsms import ledger
from kwtsms.db import db
from kwtsms.models import Account, LedgerEntry

from .factories import make_account


def balance_of(account):
    return Account.get_by_id(account.id).balance


def test_credit_charge_refund_keep_balance_equal_to_sum(app):
    account = make_account()
    ledger.credit(account, 100, reason="recharge", reference="order-1")
    entry = ledger.charge(account, 30, reason="campaign")
    assert entry.amount == -30 and entry.balance_after == 70
    ledger.refund(account, 5, reason="undelivered")
    assert balance_of(account) == 75 == ledger.ledger_sum(account)
    kinds = [e.kind for e in LedgerEntry.select().where(LedgerEntry.account == account.id).order_by(LedgerEntry.id)]
    assert kinds == ["recharge", "send", "refund"]


def test_charge_more_than_balance_fails_cleanly(app):
    account = make_account(balance=10)
    with pytest.raises(ledger.InsufficientCredit) as raised:
        ledger.charge(account, 11)
    assert raised.value.available == 10 and raised.value.missing == 1
    assert balance_of(account) == 10 == ledger.ledger_sum(account)
    assert LedgerEntry.select().where(LedgerEntry.account == account.id).count() == 1


def test_failed_charge_inside_larger_transaction_rolls_back_everything(app):
    account = make_account(balance=10)
    with pytest.raises(ledger.InsufficientCredit):
        with db.atomic():
            ledger.charge(account, 4)
            ledger.charge(account, 7)  # only 6 left: the whole block must undo
    assert balance_of(account) == 10 == ledger.ledger_sum(account)


@pytest.mark.parametrize("points", [0, -5, 1.5, "3", True])
def test_non_positive_or_non_integer_amounts_are_refused(app, points):
    account = make_account(balance=10)
    with pytest.raises(ledger.LedgerError):
        ledger.charge(account, points)
    with pytest.raises(ledger.LedgerError):
        ledger.credit(account, points)
    assert balance_of(account) == 10


def test_transfer_moves_points_atomically(app):
    reseller = make_account(role="reseller", balance=50)
    customer = make_account()
    out, into = ledger.transfer(reseller, customer, 20, reason="top-up")
    assert (out.amount, into.amount) == (-20, 20)
    assert balance_of(reseller) == 30 and balance_of(customer) == 20
    with pytest.raises(ledger.InsufficientCredit):
        ledger.transfer(reseller, customer, 31)
    assert balance_of(reseller) == 30 and balance_of(customer) == 20
    for acc in (reseller, customer):
        assert ledger.ledger_sum(acc) == balance_of(acc)


def test_adjustment_needs_a_reason_and_cannot_go_negative(app):
    admin = make_account(role="admin")
    account = make_account(balance=5)
    with pytest.raises(ledger.LedgerError):
        ledger.adjust(account, 10, actor=admin, reason="  ")
    with pytest.raises(ledger.InsufficientCredit):
        ledger.adjust(account, -6, actor=admin, reason="correction")
    entry = ledger.adjust(account, -5, actor=admin, reason="correction")
    assert entry.actor_id == admin.id and entry.balance_after == 0


def test_database_refuses_a_negative_balance_even_outside_the_ledger(app):
    account = make_account()
    with pytest.raises(Exception):
        with db.atomic():
            Account.update(balance=-1).where(Account.id == account.id).execute()
    assert balance_of(account) == 0


def _run_threads(count, work):
    barrier = threading.Barrier(count)
    results, errors = [], []

    def runner(i):
        barrier.wait()
        try:
            results.append(work(i))
        except ledger.InsufficientCredit:
            results.append(None)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=runner, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results, errors


def test_twenty_threads_overcharging_one_account_never_go_negative(app):
    account = make_account(balance=95)
    results, errors = _run_threads(20, lambda i: ledger.charge(account, 10, reason=f"thread {i}"))
    assert errors == []
    succeeded = [r for r in results if r is not None]
    assert len(succeeded) == 9  # 9 x 10 fit in 95; the other 11 were refused
    assert balance_of(account) == 5 == ledger.ledger_sum(account)
    assert sorted(e.balance_after for e in succeeded) == list(range(5, 95, 10))


def test_concurrent_opposite_transfers_and_charges_keep_every_ledger_exact(app):
    a = make_account(balance=100)
    b = make_account(balance=100)

    def work(i):
        if i % 3 == 0:
            return ledger.transfer(a, b, 15)
        if i % 3 == 1:
            return ledger.transfer(b, a, 25)
        return ledger.charge(a if i % 2 else b, 30)

    results, errors = _run_threads(30, work)
    assert errors == []
    for acc in (a, b):
        assert balance_of(acc) >= 0
        assert ledger.ledger_sum(acc) == balance_of(acc)
    charges = [r for r in results if isinstance(r, LedgerEntry)]
    assert balance_of(a) + balance_of(b) == 200 - 30 * len(charges)
