"""Sender IDs, blocked names, mobile-number codes, destination countries and
per-account activation; the account's verified mobile number. Seeds the
blocked list (names of carriers, banks and public bodies in Kuwait) and the
countries (Kuwait active at 1 point per page, the others off until activated).

Written by hand in the style of a generated migration (frozen model copies).
"""
import datetime
import re
import unicodedata

from peewee import *

# A frozen copy of kwtsms.senders.service.lookalike_key as it was when these
# rows were written; if that function changes, a data migration recomputes
# blocked_name.normalized.
_LOOKALIKES = str.maketrans({
    "0": "o", "1": "i", "l": "i", "!": "i", "|": "i", "2": "z", "3": "e", "4": "a", "@": "a",
    "5": "s", "$": "s", "7": "t", "8": "b", "9": "g",
})


def _key(text):
    text = unicodedata.normalize("NFKC", text).casefold().translate(_LOOKALIKES)
    return re.sub(r"[^a-z0-9]+", "", text)


BLOCKED_NAMES = [
    # Mobile carriers in Kuwait, with former brand names.
    ("ZAIN", "carrier"), ("Ooredoo", "carrier"), ("Wataniya", "carrier"), ("STC", "carrier"),
    ("VIVA", "carrier"), ("Virgin", "carrier"), ("Virgin Mobile", "carrier"),
    # Banks.
    ("KFH", "bank"), ("NBK", "bank"), ("Boubyan", "bank"), ("Burgan", "bank"), ("Gulf Bank", "bank"),
    ("CBK", "bank"), ("KIB", "bank"), ("Warba", "bank"), ("ABK", "bank"), ("AUB", "bank"),
    # Ministries and public authorities.
    ("MOI", "government"), ("MOH", "government"), ("MOE", "government"), ("MOF", "government"),
    ("MOJ", "government"), ("MOCI", "government"), ("MOFA", "government"), ("MOSA", "government"),
    ("MEW", "government"), ("MPW", "government"), ("MOC", "government"), ("CITRA", "government"),
    ("PACI", "government"), ("PAM", "government"), ("PAAET", "government"), ("DGCA", "government"),
    ("KUNA", "government"), ("KFF", "government"), ("Kuwait Gov", "government"),
    # Well-known companies and services in Kuwait.
    ("KNET", "brand"), ("KPC", "brand"), ("KOC", "brand"), ("KNPC", "brand"), ("KAC", "brand"),
    ("Kuwait Airways", "brand"), ("Jazeera", "brand"), ("Talabat", "brand"),
]

COUNTRIES = [
    # prefix, name, points per page, active for new accounts
    ("965", "Kuwait", 1, True),
    ("966", "Saudi Arabia", 2, False), ("971", "United Arab Emirates", 2, False),
    ("973", "Bahrain", 2, False), ("974", "Qatar", 2, False), ("968", "Oman", 2, False),
    ("962", "Jordan", 3, False), ("961", "Lebanon", 3, False), ("963", "Syria", 4, False),
    ("964", "Iraq", 4, False), ("967", "Yemen", 4, False), ("20", "Egypt", 3, False),
    ("249", "Sudan", 4, False), ("212", "Morocco", 4, False), ("90", "Turkey", 3, False),
    ("91", "India", 2, False), ("92", "Pakistan", 3, False), ("880", "Bangladesh", 3, False),
    ("94", "Sri Lanka", 3, False), ("977", "Nepal", 3, False), ("63", "Philippines", 3, False),
    ("62", "Indonesia", 4, False), ("44", "United Kingdom", 3, False),
    ("1", "United States and Canada", 2, False),
]


def up(migrator, db):
    class Account(Model):
        class Meta:
            database = db
            table_name = 'account'

    migrator.migrate(
        migrator.add_column('account', 'mobile_verified_number', CharField(max_length=15, null=True)),
        migrator.add_column('account', 'mobile_verified_at', DateTimeField(null=True)),
    )

    class SenderId(Model):
        account = ForeignKeyField(Account, on_delete='CASCADE')
        name = CharField(max_length=15)
        kind = CharField(max_length=16, default='transactional')
        status = CharField(index=True, max_length=16, default='requested')
        is_mobile = BooleanField(default=False)
        purpose = CharField(max_length=300, default='')
        status_reason = CharField(max_length=500, default='')
        reviewed_by = ForeignKeyField(Account, null=True, on_delete='SET NULL')
        reviewed_at = DateTimeField(null=True)
        created_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'sender_id'
            indexes = ((('account', 'name'), True),)
    db.create_tables([SenderId])

    class BlockedName(Model):
        name = CharField(max_length=40)
        normalized = CharField(unique=True, max_length=40)
        category = CharField(max_length=16, default='brand')
        created_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'blocked_name'
    db.create_tables([BlockedName])

    class MobileVerification(Model):
        account = ForeignKeyField(Account, on_delete='CASCADE')
        number = CharField(max_length=15)
        code_hash = CharField(max_length=255)
        attempts = IntegerField(default=0, constraints=[Check('attempts >= 0')])
        expires_at = DateTimeField()
        used_at = DateTimeField(null=True)
        created_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'mobile_verification'
            indexes = ((('account', 'id'), False),)
    db.create_tables([MobileVerification])

    class Country(Model):
        prefix = CharField(unique=True, max_length=8)
        name = CharField(max_length=100)
        points_per_page = IntegerField(default=1, constraints=[Check('points_per_page > 0')])
        active_by_default = BooleanField(default=False)
        created_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'country'
    db.create_tables([Country])

    class AccountCountry(Model):
        account = ForeignKeyField(Account, on_delete='CASCADE')
        country = ForeignKeyField(Country, on_delete='CASCADE')
        is_active = BooleanField()
        updated_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'account_country'
            indexes = ((('account', 'country'), True),)
    db.create_tables([AccountCountry])

    class CountryRequest(Model):
        account = ForeignKeyField(Account, on_delete='CASCADE')
        country = ForeignKeyField(Country, on_delete='CASCADE')
        status = CharField(index=True, max_length=16, default='pending')
        handled_by = ForeignKeyField(Account, null=True, on_delete='SET NULL')
        handled_at = DateTimeField(null=True)
        created_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'country_request'
    db.create_tables([CountryRequest])

    now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    BlockedName.insert_many(
        [{"name": name, "normalized": _key(name), "category": category, "created_at": now}
         for name, category in BLOCKED_NAMES]).execute()
    Country.insert_many(
        [{"prefix": prefix, "name": name, "points_per_page": points, "active_by_default": active,
          "created_at": now} for prefix, name, points, active in COUNTRIES]).execute()


def down(migrator, db):
    migrator.migrate(migrator.drop_table('country_request'))
    migrator.migrate(migrator.drop_table('account_country'))
    migrator.migrate(migrator.drop_table('country'))
    migrator.migrate(migrator.drop_table('mobile_verification'))
    migrator.migrate(migrator.drop_table('blocked_name'))
    migrator.migrate(migrator.drop_table('sender_id'))
    migrator.migrate(
        migrator.drop_column('account', 'mobile_verified_at'),
        migrator.drop_column('account', 'mobile_verified_number'),
    )
