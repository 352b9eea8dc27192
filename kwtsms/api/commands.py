"""`flask --app app api-user`: API credentials from the command line, for scripts and tests."""
import click
from flask.cli import with_appcontext

from ..auth.service import normalize_email
from ..db import db
from ..errors import FieldErrors
from ..models import Account
from . import credentials


@click.command("api-user")
@click.option("--email", required=True, help="The account's login email.")
@click.option("--username", required=True, help="The API username to set.")
@click.option("--password", required=True, help="The API password to set (stored hashed).")
@with_appcontext
def api_user_command(email, username, password):
    """Grant API access, set the API username and password, and turn the API on."""
    from ..cli import _echo_json, _fail
    with db.connection_context():
        account = Account.get_or_none(Account.email == normalize_email(email))
        if account is None:
            _fail({"error": f"no account with email {email}"})
        try:
            account = credentials.provision(account, username, password)
        except FieldErrors as error:
            _fail({"errors": {k: str(v) for k, v in error.errors.items()}})
    _echo_json({"ok": True, "email": account.email, "username": account.api_username, "api_enabled": True})
