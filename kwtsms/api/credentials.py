"""API credentials: username and password, their fast and safe verification, IP lockdown,
and the settings an account (or the operator) changes on the API page.

The API password is stored as a slow salted hash (werkzeug's scrypt, the same as
portal passwords): a stolen database does not give it away. Checking that hash costs
a few hundred milliseconds of CPU, which would cap the API at a handful of requests
a second per core. So after one slow check succeeds, the process remembers a keyed
HMAC-SHA256 of the password (key derived from SECRET_KEY), filed under the account's
id, credentials version and hash. Later calls compute the same HMAC (microseconds)
and compare it in constant time. The plain password is never kept; the remembered
HMAC is useless without SECRET_KEY; a wrong password never matches and always pays
the slow check (and the per-IP rate limit); regenerating the password bumps the
version stored in the database, which every process reads on each call, so an old
password stops working everywhere at once.
"""
import functools
import hashlib
import hmac
import ipaddress
import re
import secrets
import threading
from collections import OrderedDict

from flask import current_app
from flask_babel import lazy_gettext as _l
from peewee import IntegrityError
from werkzeug.security import check_password_hash

from ..admin.service import audit
from ..auth.service import hash_password
from ..db import db, fetch_model
from ..errors import FieldErrors
from ..models import Account

USERNAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._@-]{2,63}")
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 128
MAX_WHITELIST_ENTRIES = 100
GENERATED_PASSWORD_BYTES = 18  # 24 URL-safe characters, 144 random bits

_CACHE_SIZE = 10_000
_verified = OrderedDict()  # (account id, credentials version, password hash) -> HMAC of the password
_refused = OrderedDict()  # (the same key or the unknown username, HMAC) of recent wrong guesses
_lock = threading.Lock()
_networks = {}  # whitelist text -> parsed networks
_dummy = {}


# --- reading ----------------------------------------------------------------------

def access_granted(account):
    """Has the operator given this account API access (ERR004 when not)?"""
    if account.api_access_granted is None:
        return bool(current_app.config["API_ACCESS_DEFAULT"])
    return bool(account.api_access_granted)


def normalize_username(username):
    return (username or "").strip().lower() if isinstance(username, str) else ""


def find_account(username):
    """The account with this API username, or None (also for anything that cannot be one)."""
    username = normalize_username(username)
    if not USERNAME_PATTERN.fullmatch(username):
        return None
    return fetch_model(Account, "api_username = ?", (username,))


@functools.lru_cache(maxsize=8)
def _key_for(secret):
    secret = secret.encode() if isinstance(secret, str) else secret
    return hashlib.sha256(b"kwtsms api credentials\x00" + secret).digest()


def _hmac_key():
    return _key_for(current_app.config["SECRET_KEY"])


def _slow_miss(password):
    """Spend what a real check costs, so an unknown username answers as slowly as a wrong password."""
    if "hash" not in _dummy:
        _dummy["hash"] = hash_password(secrets.token_hex(16))
    check_password_hash(_dummy["hash"], password)


def _remember(cache, key, value):
    with _lock:
        cache[key] = value
        cache.move_to_end(key)
        while len(cache) > _CACHE_SIZE:
            cache.popitem(last=False)


def _verify(key, password, password_hash):
    """Constant-time check of `password` against `password_hash` (None: unknown account),
    remembering the outcome under `key` as a keyed HMAC only."""
    digest = hmac.digest(_hmac_key(), repr(key).encode() + b"\x00" + password.encode("utf-8", "surrogatepass"),
                         "sha256")
    with _lock:
        known = _verified.get(key)
        refused = (key, digest) in _refused
    if known is not None and hmac.compare_digest(known, digest):
        return True
    if refused:
        return False
    if password_hash is None:
        _slow_miss(password)
        ok = False
    else:
        ok = check_password_hash(password_hash, password)
    if ok:
        _remember(_verified, key, digest)
    else:
        _remember(_refused, (key, digest), True)
    return ok


def check_password(account, password):
    """Is `password` the account's API password? Constant-time; slow only the first time."""
    if not isinstance(password, str) or not password or len(password) > MAX_PASSWORD_LENGTH:
        return False
    if not account.api_password_hash:
        return _verify(("no password", account.id), password, None)
    return _verify((account.id, account.api_credentials_version, account.api_password_hash),
                   password, account.api_password_hash)


def authenticate(username, password):
    """The account whose API credentials these are, or None. Unknown names cost as much as known ones."""
    account = find_account(username)
    if account is None:
        if isinstance(password, str) and 0 < len(password) <= MAX_PASSWORD_LENGTH:
            _verify(("unknown", normalize_username(username)[:64]), password, None)
        return None
    return account if check_password(account, password) else None


# --- IP lockdown --------------------------------------------------------------------

def parse_whitelist(text):
    """Networks from text (addresses or CIDR ranges, separated by lines, commas or spaces).
    Raises FieldErrors naming the entries that are not addresses."""
    entries = [e for e in re.split(r"[\s,;]+", text or "") if e]
    networks, bad = [], []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            bad.append(entry)
    if bad:
        raise FieldErrors.single("ip_whitelist", _l(
            "These are not IP addresses or CIDR ranges: %(entries)s. Write one per line, for example "
            "203.0.113.7 or 203.0.113.0/24.", entries=", ".join(bad[:5])))
    if len(networks) > MAX_WHITELIST_ENTRIES:
        raise FieldErrors.single("ip_whitelist", _l("At most %(n)d addresses or ranges.", n=MAX_WHITELIST_ENTRIES))
    return list(dict.fromkeys(networks))


def _whitelist_networks(text):
    networks = _networks.get(text)
    if networks is None:
        try:
            networks = parse_whitelist(text)
        except FieldErrors:  # stored text is always valid; be safe anyway: nothing matches
            networks = [ipaddress.ip_network("0.0.0.0/32")]
        if len(_networks) > 1000:
            _networks.clear()
        _networks[text] = networks
    return networks


def ip_allowed(account, address):
    """IP lockdown: True when the account has no whitelist or `address` is in it."""
    if not account.api_ip_whitelist.strip():
        return True
    try:
        ip = ipaddress.ip_address((address or "").split("%")[0])
    except ValueError:
        return False
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return any(ip.version == net.version and ip in net for net in _whitelist_networks(account.api_ip_whitelist))


# --- changing them ---------------------------------------------------------------------

def _reload(account):
    return Account.get_by_id(account.id)


def check_username(account, username):
    """The normalised username, or FieldErrors."""
    username = normalize_username(username)
    if not USERNAME_PATTERN.fullmatch(username):
        raise FieldErrors.single("username", _l(
            "Use 3 to 64 characters: letters, digits, and . _ @ - (not first). Usernames are not case sensitive."))
    taken = Account.select().where(Account.api_username == username, Account.id != account.id).exists()
    if taken:
        raise FieldErrors.single("username", _l("This API username is taken; choose another."))
    return username


def password_problem(password):
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        return _l("Use at least %(n)d characters.", n=MIN_PASSWORD_LENGTH)
    if len(password) > MAX_PASSWORD_LENGTH:
        return _l("Use at most %(n)d characters.", n=MAX_PASSWORD_LENGTH)
    if password != password.strip() or "\x00" in password:
        return _l("The password must not start or end with spaces.")
    return None


def set_username(account, username, actor=None):
    username = check_username(account, username)
    try:
        with db.atomic():
            Account.update(api_username=username).where(Account.id == account.id).execute()
            audit(actor or account, "api.username_set", account, username=username)
    except IntegrityError:
        raise FieldErrors.single("username", _l("This API username is taken; choose another."))
    return _reload(account)


def set_password(account, password, actor=None):
    """Store a new API password (hashed) and retire every cached verification of the old one."""
    problem = password_problem(password)
    if problem:
        raise FieldErrors.single("password", problem)
    with db.atomic():
        Account.update(api_password_hash=hash_password(password),
                       api_credentials_version=Account.api_credentials_version + 1).where(
            Account.id == account.id).execute()
        audit(actor or account, "api.password_set", account)
    return _reload(account)


def regenerate_password(account, actor=None):
    """A new random API password: returned once (to show), stored only hashed.
    Needs a username first; returns (account, password)."""
    account = _reload(account)
    if not account.api_username:
        raise FieldErrors.single("username", _l("Choose an API username first."))
    password = secrets.token_urlsafe(GENERATED_PASSWORD_BYTES)
    return set_password(account, password, actor), password


def set_enabled(account, enabled, actor=None):
    account = _reload(account)
    if enabled and not (account.api_username and account.api_password_hash):
        raise FieldErrors.single("enabled", _l("Set an API username and generate a password before turning the API on."))
    with db.atomic():
        Account.update(api_enabled=bool(enabled)).where(Account.id == account.id).execute()
        audit(actor or account, "api.enabled" if enabled else "api.disabled", account)
    return _reload(account)


def set_ip_whitelist(account, text, actor=None):
    networks = parse_whitelist(text)
    stored = "\n".join(str(n) if n.num_addresses > 1 else str(n.network_address) for n in networks)
    with db.atomic():
        Account.update(api_ip_whitelist=stored).where(Account.id == account.id).execute()
        audit(actor or account, "api.ip_whitelist_set", account, entries=len(networks))
    return _reload(account)


def grant_access(admin, account, granted):
    """The operator gives (or takes away) API access: ERR004 while taken away."""
    with db.atomic():
        Account.update(api_access_granted=bool(granted)).where(Account.id == account.id).execute()
        audit(admin, "api.access_granted" if granted else "api.access_revoked", account)
    return _reload(account)


def provision(account, username, password, actor=None):
    """Everything a script needs in one go (the `api-user` command): access granted,
    the username and password set, the API turned on."""
    problem = password_problem(password)
    if problem:
        raise FieldErrors.single("password", problem)
    username = check_username(account, username)
    try:
        with db.atomic():
            Account.update(api_username=username, api_password_hash=hash_password(password),
                           api_credentials_version=Account.api_credentials_version + 1,
                           api_enabled=True, api_access_granted=True).where(Account.id == account.id).execute()
            audit(actor, "api.provisioned", account, username=username)
    except IntegrityError:
        raise FieldErrors.single("username", _l("This API username is taken; choose another."))
    return _reload(account)
