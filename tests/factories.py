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


def make_sender(account, name, status="approved", kind="transactional", admin=None):
    """A sender ID of `account` in the given status, through the real request and review."""
    from kwtsms.models import SenderId
    from kwtsms.senders import service as senders
    sender = senders.request_sender(account, name, kind)
    if status == SenderId.REQUESTED or sender.status == status:
        return sender
    admin = admin or make_account(role="admin")
    if status == SenderId.REJECTED:
        return senders.reject_sender(admin, sender, "test rejection")
    sender = senders.approve_sender(admin, sender)
    if status == SenderId.SUSPENDED:
        sender = senders.suspend_sender(admin, sender, "test suspension")
    return sender


def verify_account_mobile(account):
    """Confirm the account's mobile number as the customer would, with the code."""
    from kwtsms.senders import service as senders
    return senders.verify_mobile(account, senders.start_mobile_verification(account))


def make_package(name="Test pack", points=1000, price="15.000", active=True):
    """A recharge package, through the admin's service."""
    from kwtsms.models import Package
    from kwtsms.recharge import service as recharge
    admin = make_account(role="admin")
    package = recharge.save_package(admin, None, name=name, points=points, price=price, is_active=active)
    return Package.get_by_id(package.id)


def make_customer_of(reseller, balance=0, **fields):
    """A customer account belonging to `reseller`, created the way the reseller creates it."""
    from kwtsms.resellers import service as resellers
    n = next(_sequence)
    customer = resellers.create_customer(
        reseller, email=fields.get("email", f"cust{n}@example.com"), password=DEFAULT_PASSWORD,
        company=fields.get("company", f"Customer {n}"), contact_name=fields.get("contact_name", f"Buyer {n}"),
        mobile=fields.get("mobile", f"9656{n:07d}"))
    if balance:
        ledger.credit(customer, balance, reason="test credit")
        customer = type(customer).get_by_id(customer.id)
    return customer

