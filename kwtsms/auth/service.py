"""Accounts and their portal passwords: sign-up, login, password change and reset."""
import datetime
import hashlib
import logging
import secrets

from email_validator import EmailNotValidError, validate_email
from flask_babel import lazy_gettext as _l
from peewee import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from .. import phone
from ..db import db
from ..errors import FieldErrors
from ..models import Account, AuditLog, PasswordResetToken, utcnow

log = logging.getLogger("kwtsms.auth")

MIN_PASSWORD_LENGTH = 10
# The handful every cracking list starts with; length rules catch the rest.
COMMON_PASSWORDS = {
    "1234567890", "0123456789", "qwertyuiop", "password12", "password123", "password1234",
    "iloveyou12", "kuwait1234", "kuwait12345", "abcdefghij", "1q2w3e4r5t", "qwerty1234",
    "1111111111", "aaaaaaaaaa", "welcome123", "admin12345", "letmein123",
}
# Checked against when the email is unknown, so a login takes as long either way.
_DUMMY_HASH = generate_password_hash("not-a-real-password")


class LoginRefused(Exception):
    """Wrong email or password; deliberately does not say which."""


class AccountBlocked(Exception):
    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


class InvalidResetLink(Exception):
    """The reset link is unknown, already used or expired."""


def normalize_email(email):
    return (email or "").strip().lower()


def password_problem(password, email=""):
    """Why a new portal password is too weak, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return _l("Use at least %(n)d characters.", n=MIN_PASSWORD_LENGTH)
    if len(password) > 128:
        return _l("Use at most 128 characters.")
    lowered = password.lower()
    if lowered in COMMON_PASSWORDS or len(set(lowered)) < 4:
        return _l("This password is too easy to guess; add different words, digits or symbols.")
    local_part = normalize_email(email).split("@")[0]
    if len(local_part) >= 4 and local_part in lowered:
        return _l("The password must not contain your email name.")
    return None


def hash_password(password):
    return generate_password_hash(password)


def create_account(*, email, password, role=Account.CUSTOMER, company="", contact_name="",
                   mobile=None, check_password=True):
    """Create an account, or raise FieldErrors saying which field is wrong. Nothing is stored on error."""
    errors = {}
    email = normalize_email(email)
    try:
        # The login form checks addresses the same way: an account it would refuse is useless.
        validate_email(email, check_deliverability=False)
    except EmailNotValidError:
        errors["email"] = _l("Enter a valid email address, like name@example.com.")
    if role not in Account.ROLES:
        errors["role"] = _l("Role must be one of: customer, reseller, admin.")
    if check_password and (problem := password_problem(password, email)):
        errors["password"] = problem
    number = None
    if mobile:
        checked = phone.parse_mobile(mobile)
        if not checked.ok:
            errors["mobile"] = _l("This is not a valid mobile number: %(reason)s", reason=checked.reason)
        else:
            number = checked.number
    if not errors:
        if Account.select().where(Account.email == email).exists():
            errors["email"] = _l("An account with this email already exists. Log in or reset your password.")
        if number and Account.select().where(Account.mobile == number).exists():
            errors["mobile"] = _l("This mobile number is already registered to another account.")
    if errors:
        raise FieldErrors(errors)
    try:
        with db.atomic():
            return Account.create(email=email, password_hash=hash_password(password), role=role,
                                  company=company.strip(), contact_name=contact_name.strip(),
                                  mobile=number)
    except IntegrityError:
        # Someone registered the same email or mobile between our check and insert.
        raise FieldErrors({"email": _l("An account with this email or mobile already exists.")})


def authenticate(email, password):
    account = Account.get_or_none(Account.email == normalize_email(email))
    if account is None:
        check_password_hash(_DUMMY_HASH, password)
        raise LoginRefused()
    if not check_password_hash(account.password_hash, password):
        raise LoginRefused()
    if account.is_blocked:
        raise AccountBlocked(account.blocked_reason)
    return account


def _set_password(account, new_password):
    """Store a new hash and end every other session of the account."""
    Account.update(password_hash=hash_password(new_password),
                   session_version=Account.session_version + 1).where(Account.id == account.id).execute()
    return Account.get_by_id(account.id)


def change_password(account, current_password, new_password):
    if not check_password_hash(account.password_hash, current_password):
        raise FieldErrors.single("current_password", _l("This is not your current password."))
    if problem := password_problem(new_password, account.email):
        raise FieldErrors.single("new_password", problem)
    with db.atomic():
        updated = _set_password(account, new_password)
        AuditLog.create(actor=account.id, account=account.id, action="password.changed")
    return updated


def _token_hash(token):
    return hashlib.sha256(token.encode()).hexdigest()


def issue_reset_token(email, max_age_seconds):
    """A one-time reset token for the account with this email, or None if there is none.

    Only the token's hash is stored, so a leaked database cannot reset passwords.
    """
    account = Account.get_or_none(Account.email == normalize_email(email))
    if account is None:
        return None, None
    token = secrets.token_urlsafe(32)
    PasswordResetToken.create(account=account, token_hash=_token_hash(token),
                              expires_at=utcnow() + datetime.timedelta(seconds=max_age_seconds))
    return account, token


def reset_token_account(token):
    """The account a valid, unused, unexpired token belongs to."""
    row = PasswordResetToken.get_or_none(PasswordResetToken.token_hash == _token_hash(token or ""))
    if row is None or row.used_at is not None or row.expires_at < utcnow():
        raise InvalidResetLink()
    return row.account


def reset_password(token, new_password):
    account = reset_token_account(token)
    if problem := password_problem(new_password, account.email):
        raise FieldErrors.single("new_password", problem)
    with db.atomic():
        # Conditional update: of two simultaneous uses of one link, only one wins.
        claimed = (PasswordResetToken.update(used_at=utcnow())
                   .where(PasswordResetToken.token_hash == _token_hash(token),
                          PasswordResetToken.used_at.is_null())
                   .execute())
        if claimed != 1:
            raise InvalidResetLink()
        updated = _set_password(account, new_password)
        AuditLog.create(actor=account.id, account=account.id, action="password.reset")
    return updated
