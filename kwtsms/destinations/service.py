"""Destination countries: prices in points per SMS page, and which countries
each account may send to.

A country is active for an account when the account has its own setting
(AccountCountry) saying so, or, without one, when the country is active by
default. Changing a country's default first writes the current state down for
every existing account, so the default only decides for accounts created
afterwards ("whether new accounts have it active").

The composer, the API's send, validate and coverage endpoints and the public
prices page all read the same table. It is small and read on every number, so
each process keeps a copy for CACHE_SECONDS (edits in this process refresh it
at once; other processes within a minute).
"""
import threading
import time
from dataclasses import dataclass

from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from peewee import IntegrityError, Value, fn
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE

from ..admin.service import audit
from ..db import db, fetch_all
from ..errors import FieldErrors
from ..models import Account, AccountCountry, Country, CountryRequest, utcnow

KUWAIT_PREFIX = "965"
CACHE_SECONDS = 60
MAX_POINTS_PER_PAGE = 1000


@dataclass(frozen=True)
class CountryInfo:
    id: int
    prefix: str
    name: str
    points_per_page: int
    active_by_default: bool


class _Table:
    def __init__(self, database, countries):
        self.database = database
        self.loaded_at = time.monotonic()
        self.by_prefix = {c.prefix: c for c in countries}
        self.by_id = {c.id: c for c in countries}
        self.longest = max((len(p) for p in self.by_prefix), default=0)

    def country_for(self, number):
        digits = str(number)
        for length in range(min(len(digits), self.longest), 0, -1):
            found = self.by_prefix.get(digits[:length])
            if found is not None:
                return found
        return None


_cache = {"table": None}
_cache_lock = threading.Lock()


def invalidate_cache():
    _cache["table"] = None


def _table():
    table = _cache["table"]
    # A new database object (tests, a re-initialised app) never sees an old copy.
    if table is None or table.database is not db.obj or time.monotonic() - table.loaded_at > CACHE_SECONDS:
        with _cache_lock:
            countries = [CountryInfo(c.id, c.prefix, c.name, c.points_per_page, c.active_by_default)
                         for c in Country.select()]
            table = _Table(db.obj, countries)
            _cache["table"] = table
    return table


def country_for_number(number):
    """The CountryInfo whose prefix is the longest that `number` (digits with country
    code) starts with, or None when no country matches."""
    return _table().country_for(number)


def _account_id(account):
    """An account's id, given the account (or anything with its id) or the id itself."""
    return int(getattr(account, "id", account))


class Coverage:
    """One account's active countries: read once, then answers without queries.

    Use it for many numbers at once (a send to 200 numbers, an import).
    """

    def __init__(self, account):
        self.table = _table()
        # Raw SQL: every API send asks this (see kwtsms.db.sql).
        self.own = {country_id: bool(is_active) for country_id, is_active in fetch_all(
            "SELECT country_id, is_active FROM account_country WHERE account_id = ?", (_account_id(account),))}

    def is_active(self, country):
        return country is not None and self.own.get(country.id, country.active_by_default)

    def country(self, number):
        return self.table.country_for(number)

    def points_per_page(self, number):
        """Points per page to `number`, or None when its country is unknown or not active."""
        country = self.table.country_for(number)
        return country.points_per_page if self.is_active(country) else None

    @property
    def prefixes(self):
        return sorted((c.prefix for c in self.table.by_prefix.values() if self.is_active(c)),
                      key=lambda p: (p != KUWAIT_PREFIX, p))


def coverage_for(account):
    return Coverage(account)


def points_per_page(account, number):
    """Points one SMS page to `number` costs this account; None when the account may
    not send there (unknown country or not activated: the API's NR / ERR026)."""
    return Coverage(account).points_per_page(number)


def active_prefixes(account):
    """Prefixes the account may send to, Kuwait first (the API's coverage endpoint)."""
    return Coverage(account).prefixes


def is_country_active(account, prefix):
    country = _table().by_prefix.get(str(prefix))
    return bool(Coverage(account).is_active(country))


# --- Names in the user's language -------------------------------------------------------

def country_label(country):
    """The stored (English) name, or the territory's name in the user's language
    when the prefix is the calling code of exactly one territory."""
    locale = get_locale()
    if locale is None or locale.language == "en":
        return country.name
    regions = COUNTRY_CODE_TO_REGION_CODE.get(int(country.prefix)) if country.prefix.isdigit() else None
    if regions and len(regions) == 1:
        return locale.territories.get(regions[0]) or country.name
    return country.name


# --- Lists ---------------------------------------------------------------------------------

def price_list(query=""):
    """Every country, Kuwait first, then by name; `query` matches name or prefix."""
    countries = Country.select().order_by((Country.prefix != KUWAIT_PREFIX), Country.name)
    query = (query or "").strip()
    if query:
        digits = "".join(ch for ch in query if ch.isdigit())
        condition = fn.LOWER(Country.name) ** f"%{query.lower()}%"
        if digits:
            condition |= Country.prefix.startswith(digits)
        countries = countries.where(condition)
    return countries


def account_states(account):
    """{country id: (active, own setting or None, pending request)} for the account."""
    coverage = Coverage(account)
    pending = {r.country_id for r in CountryRequest.select(CountryRequest.country).where(
        CountryRequest.account == account.id, CountryRequest.status == CountryRequest.PENDING)}
    return {c.id: (coverage.is_active(c), coverage.own.get(c.id), c.id in pending)
            for c in coverage.table.by_id.values()}


def pending_requests():
    return (CountryRequest.select(CountryRequest, Country, Account)
            .join(Country, on=(CountryRequest.country == Country.id))
            .switch(CountryRequest).join(Account, on=(CountryRequest.account == Account.id))
            .where(CountryRequest.status == CountryRequest.PENDING).order_by(CountryRequest.id))


# --- The customer asks -------------------------------------------------------------------

def request_country(account, country):
    if is_country_active(account, country.prefix):
        raise FieldErrors.single("country", _l("%(country)s is already active on your account.",
                                               country=country_label(country)))
    if CountryRequest.select().where(CountryRequest.account == account.id, CountryRequest.country == country.id,
                                     CountryRequest.status == CountryRequest.PENDING).exists():
        raise FieldErrors.single("country", _l("You already asked for %(country)s; we will answer soon.",
                                               country=country_label(country)))
    with db.atomic():
        request = CountryRequest.create(account=account.id, country=country.id)
        audit(account, "country.requested", account, prefix=country.prefix, country=country.name)
    return request


# --- The operator ------------------------------------------------------------------------

def _clean_country(prefix, name, points, exclude_id=None):
    errors = {}
    prefix = "".join((prefix or "").split())
    name = (name or "").strip()
    if prefix.startswith("+"):
        prefix = prefix[1:]
    elif prefix.startswith("00"):
        prefix = prefix[2:]
    if not prefix.isascii() or not prefix.isdigit() or len(prefix) > 8:
        errors["prefix"] = _l("Digits only, at most 8: the country calling code, for example 965.")
    elif not any(int(prefix[:n]) in COUNTRY_CODE_TO_REGION_CODE for n in (1, 2, 3) if len(prefix) >= n):
        errors["prefix"] = _l("No country calling code starts these digits.")
    elif (Country.select().where(Country.prefix == prefix, Country.id != (exclude_id or 0)).exists()):
        errors["prefix"] = _l("Another country already has the prefix %(prefix)s.", prefix=prefix)
    if not name:
        errors["name"] = _l("This field is required.")
    elif len(name) > 100:
        errors["name"] = _l("At most 100 characters.")
    if not isinstance(points, int) or isinstance(points, bool) or not 1 <= points <= MAX_POINTS_PER_PAGE:
        errors["points_per_page"] = _l("A whole number of points from 1 to %(max)d.", max=MAX_POINTS_PER_PAGE)
    if errors:
        raise FieldErrors(errors)
    return prefix, name


def create_country(admin, *, prefix, name, points_per_page, active_by_default=False):
    prefix, name = _clean_country(prefix, name, points_per_page)
    try:
        with db.atomic():
            country = Country.create(prefix=prefix, name=name, points_per_page=points_per_page,
                                     active_by_default=bool(active_by_default))
            audit(admin, "country.created", None, prefix=prefix, name=name, points_per_page=points_per_page,
                  active_by_default=bool(active_by_default))
    except IntegrityError:
        raise FieldErrors.single("prefix", _l("Another country already has the prefix %(prefix)s.", prefix=prefix))
    invalidate_cache()
    return country


def _keep_current_state(country):
    """Write the country's current default down for every account without a setting."""
    have = AccountCountry.select(AccountCountry.account).where(AccountCountry.country == country.id)
    rows = Account.select(Account.id, Value(country.id), Value(bool(country.active_by_default)),
                          Value(utcnow())).where(Account.id.not_in(have))
    AccountCountry.insert_from(rows, fields=[AccountCountry.account, AccountCountry.country,
                                             AccountCountry.is_active, AccountCountry.updated_at]).execute()


def update_country(admin, country, *, prefix, name, points_per_page, active_by_default):
    prefix, name = _clean_country(prefix, name, points_per_page, exclude_id=country.id)
    active_by_default = bool(active_by_default)
    if country.prefix == KUWAIT_PREFIX and prefix != KUWAIT_PREFIX:
        raise FieldErrors.single("prefix", _l("Kuwait's prefix cannot change."))
    try:
        with db.atomic():
            if active_by_default != country.active_by_default:
                _keep_current_state(country)
            Country.update(prefix=prefix, name=name, points_per_page=points_per_page,
                           active_by_default=active_by_default).where(Country.id == country.id).execute()
            audit(admin, "country.updated", None, prefix=prefix, name=name, points_per_page=points_per_page,
                  active_by_default=active_by_default, before={"prefix": country.prefix,
                  "points_per_page": country.points_per_page, "active_by_default": country.active_by_default})
    except IntegrityError:
        raise FieldErrors.single("prefix", _l("Another country already has the prefix %(prefix)s.", prefix=prefix))
    invalidate_cache()
    return Country.get_by_id(country.id)


def delete_country(admin, country):
    if country.prefix == KUWAIT_PREFIX:
        raise FieldErrors.single("prefix", _l("Kuwait cannot be removed; change its price instead."))
    with db.atomic():
        Country.delete().where(Country.id == country.id).execute()
        audit(admin, "country.deleted", None, prefix=country.prefix, name=country.name)
    invalidate_cache()


def set_account_country(admin, account, country, active):
    """Activate or deactivate a country for one account; activating answers its requests."""
    active = bool(active)
    now = utcnow()
    with db.atomic():
        (AccountCountry.insert(account=account.id, country=country.id, is_active=active, updated_at=now)
         .on_conflict(conflict_target=[AccountCountry.account, AccountCountry.country],
                      update={AccountCountry.is_active: active, AccountCountry.updated_at: now})
         .execute())
        if active:
            (CountryRequest.update(status=CountryRequest.DONE, handled_by=admin.id, handled_at=now)
             .where(CountryRequest.account == account.id, CountryRequest.country == country.id,
                    CountryRequest.status == CountryRequest.PENDING).execute())
        audit(admin, "country.activated" if active else "country.deactivated", account,
              prefix=country.prefix, country=country.name)


def decline_country_request(admin, request):
    with db.atomic():
        changed = (CountryRequest.update(status=CountryRequest.DECLINED, handled_by=admin.id, handled_at=utcnow())
                   .where(CountryRequest.id == request.id, CountryRequest.status == CountryRequest.PENDING)
                   .execute())
        if changed:
            audit(admin, "country.request_declined", request.account, prefix=request.country.prefix,
                  country=request.country.name)
    return changed == 1
