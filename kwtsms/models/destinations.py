"""Destination countries, their price in points per SMS page, and which
accounts may send to them."""
from peewee import BooleanField, Check, CharField, DateTimeField, ForeignKeyField, IntegerField

from .accounts import Account
from .base import BaseModel, utcnow


class Country(BaseModel):
    # Digits a number starts with; usually the calling code ("965"), longer
    # when part of a shared code is priced apart. Longest prefix wins.
    prefix = CharField(max_length=8, unique=True)
    name = CharField(max_length=100)
    points_per_page = IntegerField(default=1, constraints=[Check("points_per_page > 0")])
    # Active for accounts created from now on (existing accounts keep what they have).
    active_by_default = BooleanField(default=False)
    created_at = DateTimeField(default=utcnow)


class AccountCountry(BaseModel):
    """An account's own setting for a country; without a row the country's default applies."""

    account = ForeignKeyField(Account, backref="+", on_delete="CASCADE")
    country = ForeignKeyField(Country, backref="+", on_delete="CASCADE")
    is_active = BooleanField()
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("account", "country"), True),)


class CountryRequest(BaseModel):
    """A customer asks the operator to activate a country."""

    PENDING, DONE, DECLINED = "pending", "done", "declined"

    account = ForeignKeyField(Account, backref="+", on_delete="CASCADE")
    country = ForeignKeyField(Country, backref="+", on_delete="CASCADE")
    status = CharField(max_length=16, default=PENDING, index=True)
    handled_by = ForeignKeyField(Account, null=True, backref="+", on_delete="SET NULL")
    handled_at = DateTimeField(null=True)
    created_at = DateTimeField(default=utcnow)
