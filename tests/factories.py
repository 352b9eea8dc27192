"""Test data built through the same service functions the app uses."""
import itertools

from kwtsms import ledger
from kwtsms.auth.service import create_account

DEFAULT_PASSWORD = "Correct-horse-battery-7"
_sequence = itertools.count(1)


def make_account(role="customer", balance=0, **fields):
    n = next(_sequence)
    fields.setdefault("email", f"user{n}@example.com")
    fields.setdefault("company", f"Company {n}")
    fields.setdefault("contact_name", f"Contact {n}")
    fields.setdefault("mobile", f"9655{n:07d}")
    account = create_account(password=fields.pop("password", DEFAULT_PASSWORD), role=role, **fields)
    if balance:
        ledger.credit(account, balance, reason="test credit")
        account = type(account).get_by_id(account.id)
    return account
