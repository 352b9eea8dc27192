"""Fuzz the API from its OpenAPI description with schemathesis: no 5xx, and every reply
(status code, content type and body) matches the description.

Every operation gets schema-valid and schema-invalid bodies (JSON and form), once with
whatever credentials schemathesis makes up (auth errors) and once with real ones, so the
endpoints' own checks and OK replies are reached too. (Driven through hypothesis
strategies: schemathesis' pytest plugin does not run under pytest 9 yet.)
"""
import itertools

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (content_type_conformance, response_schema_conformance,
                                               status_code_conformance)

from kwtsms import ledger
from kwtsms.messages.service import send_message
from kwtsms.models import Account

from .test_api_support import API_PASSWORD, make_api_account

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = 30  # per operation, mode and credentials: 8 x 2 x 2 x 30 requests
_numbers = itertools.count(1)


@pytest.fixture
def app_config(app_config):
    return {**app_config, "API_RATE_LIMIT": "100000 per second", "MAX_QUEUED_MESSAGES": 10**6}


@pytest.fixture
def fuzz_account(app):
    with app.app_context():
        return make_api_account(username="fuzzer", balance=10**7)


def operations(app):
    schema = schemathesis.openapi.from_wsgi("/API/openapi.yaml", app)
    found = [result.ok() for result in schema.get_all_operations()]
    assert len(found) == 8
    return found


def fuzz(operation, mode, prepare):
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def run(case):
        prepare(case)
        case.call_and_validate(checks=CHECKS)
    run()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_fuzz_with_made_up_credentials(app, fuzz_account, mode):
    for operation in operations(app):
        fuzz(operation, mode, lambda case: None)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_fuzz_with_real_credentials(app, fuzz_account, mode):
    with app.app_context():
        msg_id = send_message(fuzz_account, sender="KWT-SMS", text="known", numbers="96550000000").message.msg_id

    def prepare(case):
        if isinstance(case.body, dict):
            case.body["username"], case.body["password"] = fuzz_account.api_username, API_PASSWORD
            number = next(_numbers)
            if number % 2 and case.operation.path == "/API/send/":
                case.body["sender"] = "KWT-SMS"  # half the sends: a real sender and a fresh number
                case.body["mobile"] = f"9655{number:07d}"
            elif number % 2 and "msgid" in case.body:
                case.body["msgid"] = msg_id  # half the reads: a message that exists

    for operation in operations(app):
        fuzz(operation, mode, prepare)
    with app.app_context():
        assert ledger.ledger_sum(fuzz_account) == Account.get_by_id(fuzz_account.id).balance
