"""Operator commands: `flask --app app <command>`. Each prints JSON for scripts."""
import json
import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from . import db as db_module
from . import ledger
from .auth import service as auth_service
from .errors import FieldErrors
from .models import ALL_MODELS, Account

db_cli = AppGroup("db", help="Database schema migrations.")

DEMO_ACCOUNTS = (
    {"email": "admin@example.com", "password": "demo-admin-pass", "role": Account.ADMIN,
     "company": "Portal operator", "contact_name": "Demo Admin", "mobile": "96550000001"},
    {"email": "customer@example.com", "password": "demo-customer-pass", "role": Account.CUSTOMER,
     "company": "Demo Trading Co.", "contact_name": "Demo Customer", "mobile": "96550000002", "points": 1000},
)


def _echo_json(payload):
    click.echo(json.dumps(payload, ensure_ascii=False))


def _fail(payload):
    click.echo(json.dumps({"ok": False, **payload}, ensure_ascii=False), err=True)
    sys.exit(1)


@db_cli.command("upgrade")
def db_upgrade():
    """Apply pending migrations."""
    _echo_json({"applied": db_module.upgrade()})


@db_cli.command("status")
def db_status():
    with db_module.db.connection_context():
        rows = db_module.migration_runner().status()
    _echo_json({"migrations": [{"name": m.name, "applied": bool(m.applied)} for m in rows]})


@db_cli.command("generate")
@click.argument("name")
def db_generate(name):
    """Write a migration for the difference between the models and the database."""
    from playhouse.migrations import template
    from playhouse.schema_diff import diff_models
    with db_module.db.connection_context():
        diff = diff_models(db_module.db.obj, ALL_MODELS)
        if not diff:
            _echo_json({"generated": None, "message": "schema matches models"})
            return
        path = db_module.migration_runner().create(name, body=template(diff))
    _echo_json({"generated": path})


@click.command("create-account")
@click.option("--email", required=True)
@click.option("--password", required=True)
@click.option("--role", type=click.Choice(Account.ROLES), default=Account.CUSTOMER)
@click.option("--company", default="")
@click.option("--contact-name", default="")
@click.option("--mobile", default=None)
@with_appcontext
def create_account_command(email, password, role, company, contact_name, mobile):
    """Create a portal account."""
    with db_module.db.connection_context():
        try:
            account = auth_service.create_account(email=email, password=password, role=role,
                                                  company=company, contact_name=contact_name, mobile=mobile)
        except FieldErrors as error:
            _fail({"errors": {k: str(v) for k, v in error.errors.items()}})
    _echo_json({"ok": True, "id": account.id, "email": account.email, "role": account.role})


@click.command("credit")
@click.option("--email", required=True)
@click.option("--points", type=int, required=True)
@click.option("--reason", required=True)
@with_appcontext
def credit_command(email, points, reason):
    """Add (or with a negative number remove) points, as an operator adjustment."""
    with db_module.db.connection_context():
        account = Account.get_or_none(Account.email == auth_service.normalize_email(email))
        if account is None:
            _fail({"error": f"no account with email {email}"})
        try:
            entry = ledger.adjust(account, points, actor=None, reason=reason)
        except ledger.LedgerError as error:
            _fail({"error": str(error)})
    _echo_json({"ok": True, "email": account.email, "points": points, "balance": entry.balance_after})


@click.command("seed-demo")
@with_appcontext
def seed_demo_command():
    """Create the demo admin and customer used by `make run` (development only)."""
    if current_app.config["PRODUCTION"]:
        _fail({"error": "demo accounts are not created in production"})
    created = []
    with db_module.db.connection_context():
        for spec in DEMO_ACCOUNTS:
            spec = dict(spec)
            points = spec.pop("points", 0)
            if Account.get_or_none(Account.email == spec["email"]) is None:
                account = auth_service.create_account(check_password=False, **spec)
                if points:
                    ledger.adjust(account, points, actor=None, reason="demo credit")
            created.append({"role": spec["role"], "email": spec["email"], "password": spec["password"]})
    _echo_json({"demo_accounts": created})


contacts_cli = AppGroup("contacts", help="Groups of numbers.")


@contacts_cli.command("import")
@click.option("--email", required=True, help="The account that owns the group.")
@click.option("--group", "group_name", required=True, help="Group name; created when missing.")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def contacts_import_command(email, group_name, path):
    """Import a CSV or .xlsx file into a group and print the report as JSON."""
    from .groups.service import find_or_create_group
    from .imports import service as imports

    with db_module.db.connection_context():
        account = Account.get_or_none(Account.email == auth_service.normalize_email(email))
        if account is None:
            _fail({"error": f"no account with email {email}"})
        try:
            group = find_or_create_group(account, group_name)
            with open(path, "rb") as handle:
                contact_import = imports.save_upload(account, current_app.config["UPLOAD_DIR"], Path(path).name,
                                                     handle, current_app.config["MAX_UPLOAD_MB"] * 1024 * 1024)
        except FieldErrors as error:
            _fail({"errors": {k: str(v) for k, v in error.errors.items()}})
        imports.choose_group(contact_import, account, group=group)
        report = imports.report(imports.run_import(contact_import.id))
    _echo_json(report)
    if report["status"] != "done":
        sys.exit(1)


def register_commands(app):
    app.cli.add_command(db_cli)
    app.cli.add_command(contacts_cli)
    for command in (create_account_command, credit_command, seed_demo_command):
        app.cli.add_command(command)
    from .api.commands import api_user_command
    app.cli.add_command(api_user_command)
