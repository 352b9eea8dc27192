"""Shared by the API tests (no tests here): the official kwtSMS client, API accounts, a webhook receiver.

The official client's package is called `kwtsms`, like ours. official_client()
imports it from site-packages with our package moved aside, then puts ours back
and keeps the client under the name `kwtsms_official`. Its functions keep
reading their own module's globals, so `client._core.BASE_URL = ...` works.
"""
import http.server
import importlib
import json
import sys
import threading
from importlib.metadata import distribution

import pytest

from kwtsms.api import credentials

from .factories import make_account

API_PASSWORD = "api-pass-12345"
_client = {}


def official_client():
    if "module" in _client:
        return _client["module"]
    ours = {name: module for name, module in sys.modules.items() if name == "kwtsms" or name.startswith("kwtsms.")}
    site = str(distribution("kwtsms").locate_file(""))
    theirs = {}
    for name in ours:
        del sys.modules[name]
    sys.path.insert(0, site)
    try:
        module = importlib.import_module("kwtsms")
        assert hasattr(module, "KwtSMS") and hasattr(module, "parse_webhook"), "not the official kwtSMS client"
    finally:
        sys.path.remove(site)
        theirs = {name: m for name, m in sys.modules.items() if name == "kwtsms" or name.startswith("kwtsms.")}
        for name in theirs:
            del sys.modules[name]
        sys.modules.update(ours)
    for name, m in theirs.items():
        sys.modules["kwtsms_official" + name[len("kwtsms"):]] = m
    _client["module"] = module
    return module


def make_api_account(username=None, password=API_PASSWORD, balance=1000, **fields):
    """An account with API access, credentials, and the API on (as `flask api-user` does)."""
    account = make_account(balance=balance, **fields)
    return credentials.provision(account, username or f"dev{account.id}", password)


def api(client, endpoint, account=None, password=None, **params):
    """POST /API/<endpoint>/ as `account` (or with the username and password given); returns (status, reply)."""
    if account is not None:
        params = {"username": account.api_username, "password": password or API_PASSWORD, **params}
    elif password is not None:
        params = {"password": password, **params}
    response = client.post(f"/API/{endpoint}/", json=params)
    assert response.mimetype == "application/json", response.get_data(as_text=True)[:300]
    return response.status_code, response.get_json()


class WebhookReceiver:
    """A real HTTP server on loopback that records what is POSTed to it.
    `answers` is a list of status codes to give, in turn (then 200)."""

    def __init__(self):
        self.requests = []
        self.answers = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = receiver.answers.pop(0) if receiver.answers else 200
                receiver.requests.append({"headers": {k.lower(): v for k, v in self.headers.items()}, "body": body, "status": status})
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/dlr"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def accepted(self):
        return [json.loads(r["body"]) for r in self.requests if r["status"] == 200]

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook_receiver():
    with WebhookReceiver() as receiver:
        yield receiver
