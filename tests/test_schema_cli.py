"""Migrations produce exactly the models' schema; operator commands print JSON."""
import json

from playhouse.schema_diff import diff_models

from kwtsms import ledger
from kwtsms.db import db
from kwtsms.models import ALL_MODELS, Account


def test_migrations_match_the_models(app):
    diff = diff_models(db.obj, ALL_MODELS)
    assert not diff, f"models differ from migrations; run `flask --app app db generate NAME`:\n{diff}"


def test_create_account_and_credit_commands(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["create-account", "--email", "ops@example.com", "--password", "operator-pass-1",
                                 "--role", "reseller", "--company", "Ops", "--mobile", "96599990000"])
    assert result.exit_code == 0, result.output
    created = json.loads(result.output)
    assert created["role"] == "reseller" and created["ok"]

    result = runner.invoke(args=["credit", "--email", "ops@example.com", "--points", "250", "--reason", "opening"])
    assert json.loads(result.output) == {"ok": True, "email": "ops@example.com", "points": 250, "balance": 250}
    account = Account.get(Account.email == "ops@example.com")
    assert account.balance == 250 == ledger.ledger_sum(account)

    result = runner.invoke(args=["create-account", "--email", "ops@example.com", "--password", "operator-pass-1"])
    assert result.exit_code == 1 and "already exists" in result.output

    result = runner.invoke(args=["credit", "--email", "ops@example.com", "--points", "-999", "--reason", "x"])
    assert result.exit_code == 1 and Account.get_by_id(account.id).balance == 250


def test_seed_demo_is_idempotent_and_its_logins_work(app):
    runner = app.test_cli_runner()
    first = json.loads(runner.invoke(args=["seed-demo"]).output)
    second = json.loads(runner.invoke(args=["seed-demo"]).output)
    assert first == second and len(first["demo_accounts"]) == 2
    assert Account.select().count() == 2
    for demo in first["demo_accounts"]:  # exactly what `make run` prints must let a user in
        response = app.test_client().post("/login", data={"email": demo["email"], "password": demo["password"]})
        assert response.status_code == 302, demo


def test_command_line_refuses_an_address_the_login_form_would_refuse(app):
    result = app.test_cli_runner().invoke(args=["create-account", "--email", "ops@portal.local",
                                                "--password", "operator-pass-1"])
    assert result.exit_code == 1 and "valid email" in result.output
