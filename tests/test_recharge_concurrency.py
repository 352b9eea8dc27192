"""Concurrency: transfers, take-backs and charges in 50 threads, and simultaneous replays of
one payment callback, keep every balance at zero or above, every ledger sum equal to its
balance, and credit a payment once. Runs on SQLite and (with TEST_DATABASE_URL) PostgreSQL."""
import random
import threading

from kwtsms import ledger
from kwtsms.db import db
from kwtsms.errors import FieldErrors
from kwtsms.models import Account, LedgerEntry, PaymentCallback
from kwtsms.recharge import providers
from kwtsms.recharge import service as recharge
from kwtsms.resellers import service as resellers

from .factories import make_account, make_customer_of, make_package


def _run_threads(count, work):
    barrier = threading.Barrier(count)
    results, errors = [], []

    def runner(i):
        barrier.wait()
        try:
            results.append(work(i))
        except (ledger.InsufficientCredit, FieldErrors):
            results.append(None)  # refused cleanly: nothing moved
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=runner, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return results, errors


def test_fifty_concurrent_transfers_take_backs_and_charges_keep_every_ledger_exact(app):
    reseller = make_account(role="reseller", balance=600)
    customers = [make_customer_of(reseller, balance=50) for _ in range(4)]
    accounts = [reseller, *customers]
    start_total = sum(Account.get_by_id(a.id).balance for a in accounts)
    rng = random.Random(7)
    plan = [(rng.randrange(5), rng.randrange(len(customers)), rng.randrange(10, 90)) for _ in range(50)]

    def work(i):
        action, index, points = plan[i]
        customer = customers[index]
        if action in (0, 1):
            return resellers.transfer_to_customer(reseller, customer.id, points)
        if action == 2:
            return resellers.take_back(reseller, customer.id, points)
        if action == 3:
            return ledger.charge(customer, points, reason=f"send {i}")
        return ledger.charge(reseller, points, reason=f"send {i}")

    results, errors = _run_threads(50, work)
    assert errors == []
    assert any(r is None for r in results) and any(r is not None for r in results)  # both outcomes happened
    charged = -sum(e.amount for e in LedgerEntry.select().where(LedgerEntry.kind == LedgerEntry.SEND))
    for account in accounts:
        balance = Account.get_by_id(account.id).balance
        assert balance >= 0
        assert ledger.ledger_sum(account) == balance
    # Transfers only move points around; only charges take them out.
    assert sum(Account.get_by_id(a.id).balance for a in accounts) == start_total - charged


def test_simultaneous_replays_of_one_callback_credit_once(app):
    account = make_account()
    order = recharge.create_order(account, provider_code="demo", config=app.config,
                                  package_id=make_package(points=700).id)
    event = providers.PaymentEvent("demo", order.reference, "DEMO-SAME", "paid", order.amount_fils, "KWD")
    results, errors = _run_threads(10, lambda i: recharge.apply_payment_event(event)[0])
    assert errors == []
    assert sorted(results).count("credited") == 1
    assert Account.get_by_id(account.id).balance == 700 == ledger.ledger_sum(account)
    assert PaymentCallback.select().count() == 10
