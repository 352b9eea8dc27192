"""Recharge: orders, signed provider callbacks (exactly-once crediting), receipts, admin pages."""
import hashlib
import hmac
import json
import re
import time
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
import stripe

from kwtsms import create_app, ledger
from kwtsms.errors import FieldErrors
from kwtsms.models import Account, AuditLog, LedgerEntry, Order, PaymentCallback, utcnow
from kwtsms.recharge import money, providers
from kwtsms.recharge import service as recharge

from .factories import DEFAULT_PASSWORD, make_account, make_package

HOSTED_SECRET = "knet-shared-secret-for-tests"
STRIPE_WEBHOOK_SECRET = "whsec_test_secret_for_tests"
GATEWAY = "https://pay.gateway.example/hpp"


# ---------------------------------------------------------------- helpers

def provider_row(code):
    return next(row for row in recharge.provider_rows() if row.code == code)


def enable_hosted(app):
    admin = make_account(role="admin")
    recharge.save_provider(admin, provider_row("hosted"), app.config, label="KNET", is_enabled=True,
                           gateway_url=GATEWAY, merchant_id="MERCHANT-1", secret=HOSTED_SECRET)


def enable_stripe(app):
    admin = make_account(role="admin")
    recharge.save_provider(admin, provider_row("stripe"), app.config, label="Card", is_enabled=True,
                           secret="sk_test_not_a_real_key", secret2=STRIPE_WEBHOOK_SECRET)


def knet_signature(fields, secret=HOSTED_SECRET):
    """The gateway's side of the protocol, written out independently of the app's code."""
    message = urlencode(sorted((k, str(v)) for k, v in fields.items() if k != "signature"))
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def knet_callback(order, *, transaction_id="TX-1001", amount=None, currency="KWD", status="CAPTURED",
                  secret=HOSTED_SECRET, reference=None):
    fields = {"reference": reference or order.reference,
              "amount": amount if amount is not None else money.kwd_plain(order.amount_fils),
              "currency": currency, "status": status, "transaction_id": transaction_id}
    fields["signature"] = knet_signature(fields, secret)
    return fields


def hosted_order(app, account, package):
    return recharge.create_order(account, provider_code="hosted", config=app.config, package_id=package.id)


def balance_of(account):
    return Account.get_by_id(account.id).balance


def outcomes(order=None):
    query = PaymentCallback.select().order_by(PaymentCallback.id)
    if order is not None:
        query = query.where(PaymentCallback.order == order.id)
    return [row.outcome for row in query]


def stripe_event(order, *, session_id="cs_test_a1", kind="checkout.session.completed", amount=None,
                 currency="kwd", payment_status="paid"):
    return json.dumps({
        "id": "evt_" + session_id, "object": "event", "type": kind, "api_version": "2024-06-20",
        "data": {"object": {
            "id": session_id, "object": "checkout.session", "client_reference_id": order.reference,
            "metadata": {"order_reference": order.reference}, "payment_status": payment_status,
            "amount_total": order.amount_fils if amount is None else amount, "currency": currency,
        }},
    })


def stripe_signature(payload, secret=STRIPE_WEBHOOK_SECRET, timestamp=None):
    """Stripe's header: t=<unix time>,v1=HMAC-SHA256(secret, "<t>.<payload>")."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def post_stripe(client, payload, header):
    return client.post("/recharge/callback/stripe", data=payload, content_type="application/json",
                       headers={"Stripe-Signature": header})


# ---------------------------------------------------------------- money

@pytest.mark.parametrize("text, fils", [("12.5", 12500), ("12.500", 12500), ("7", 7000), ("0.010", 10),
                                        ("١٢٫٥", 12500), (" 3,25 ", 3250), ("20 KWD", 20000)])
def test_amounts_parse_to_integer_fils(text, fils):
    assert money.parse_kwd(text) == fils


@pytest.mark.parametrize("text", ["", "abc", "-5", "1e3", "12.5001", "nan", "1.2.3", "+4"])
def test_non_amounts_are_refused(text):
    with pytest.raises(money.AmountError):
        money.parse_kwd(text)


def test_amounts_format_with_three_decimals():
    assert money.format_kwd(1234567) == "1,234.567" and money.format_kwd(10) == "0.010"
    assert money.kwd_plain(160000) == "160.000"


# ---------------------------------------------------------------- the recharge page and bad input

def test_recharge_page_offers_packages_custom_amount_and_demo(login):
    make_package(name="Gold pack", points=2000, price="28.500")
    browser, _ = login()
    page = browser.get("/recharge").get_data(as_text=True)
    assert "Gold pack" in page and "28.500" in page and "Another amount" in page and "Demo payment" in page


@pytest.mark.parametrize("amount, message", [
    ("0", "more than zero"), ("-5", "more than zero"), ("abc", "as a number"), ("12.5001", "as a number"),
    ("", "Enter the amount"), ("1000000", "The most you can pay at once is 1,000.000 KWD"),
    ("1.000", "The least you can pay is 5.000 KWD"),
])
def test_bad_custom_amounts_are_refused_with_a_clear_message(app, login, amount, message):
    browser, account = login()
    recharge.save_settings(make_account(role="admin"), min_amount="5", max_amount="1000", points_per_kwd=50)
    response = browser.post("/recharge", data={"choice": "custom", "amount": amount, "provider": "demo"})
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert Order.select().count() == 0 and balance_of(account) == 0


def test_unknown_package_or_provider_is_refused(login):
    browser, _ = login()
    package = make_package()
    response = browser.post("/recharge", data={"choice": "999999", "provider": "demo"})
    assert response.status_code == 400 and "no longer offered" in response.get_data(as_text=True)
    response = browser.post("/recharge", data={"choice": str(package.id), "provider": "hosted"})  # not enabled
    assert response.status_code == 400 and "Choose one of the payment methods" in response.get_data(as_text=True)
    assert Order.select().count() == 0


def test_custom_amount_buys_points_at_the_admin_rate(app, login):
    recharge.save_settings(make_account(role="admin"), min_amount="1", max_amount="500", points_per_kwd=80)
    browser, account = login()
    response = browser.post("/recharge", data={"choice": "custom", "amount": "12.500", "provider": "demo"})
    assert response.status_code == 303
    order = Order.get(Order.account == account.id)
    assert (order.amount_fils, order.points, order.status) == (12500, 1000, "pending")


# ---------------------------------------------------------------- the demo provider, end to end

def _demo_fields(page, button):
    """The hidden signed fields of the fake payment page's form whose button says `button`."""
    forms = re.findall(r'<form method="post" action="/recharge/callback/demo">(.*?)</form>', page, re.S)
    chosen = next(f for f in forms if button in f)
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', chosen))


def test_demo_recharge_credits_points_and_shows_the_new_balance(login):
    package = make_package(points=1000, price="15.000")
    browser, account = login(balance=20)
    response = browser.post("/recharge", data={"choice": str(package.id), "provider": "demo"})
    assert response.status_code == 303
    order = Order.get(Order.account == account.id)
    assert response.headers["Location"] == f"/recharge/demo/{order.id}"

    demo_page = browser.get(response.headers["Location"]).get_data(as_text=True)
    assert "Pay 15.000 KWD" in demo_page
    response = browser.post("/recharge/callback/demo", data=_demo_fields(demo_page, "Pay 15.000 KWD"))
    assert response.status_code == 303 and response.headers["Location"] == f"/recharge/orders/{order.id}"

    page = browser.get(f"/recharge/orders/{order.id}").get_data(as_text=True)
    assert "Payment received" in page and 'data-testid="balance">1,020<' in page
    assert 'hx-trigger="load delay:1s"' not in page  # no more polling once paid
    assert balance_of(account) == 1020 == ledger.ledger_sum(account)
    entry = LedgerEntry.get(LedgerEntry.account == account.id, LedgerEntry.kind == "recharge",
                            LedgerEntry.reference == order.reference)
    assert entry.amount == 1000

    # Pressing Pay again (a replay of the same signed callback) credits nothing.
    browser.post("/recharge/callback/demo", data=_demo_fields(demo_page, "Pay 15.000 KWD"))
    assert balance_of(account) == 1020 and outcomes(order) == ["credited", "duplicate"]


def test_demo_cancel_marks_the_order_cancelled(login):
    package = make_package()
    browser, account = login()
    location = browser.post("/recharge", data={"choice": str(package.id), "provider": "demo"}).headers["Location"]
    page = browser.get(location).get_data(as_text=True)
    browser.post("/recharge/callback/demo", data=_demo_fields(page, "Cancel"))
    order = Order.get(Order.account == account.id)
    assert order.status == "cancelled" and balance_of(account) == 0
    # A payment arriving afterwards for the cancelled order is logged, not credited.
    browser.post("/recharge/callback/demo", data=_demo_fields(page, "Pay"))
    assert balance_of(account) == 0 and outcomes(order) == ["marked_cancelled", "cancelled"]


def test_order_page_polls_while_pending_and_stops_when_settled(app, login):
    package = make_package()
    browser, account = login()
    browser.post("/recharge", data={"choice": str(package.id), "provider": "demo"})
    order = Order.get(Order.account == account.id)
    fragment = browser.get(f"/recharge/orders/{order.id}", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in fragment and 'hx-trigger="load delay:1s"' in fragment and 'hx-swap="outerHTML"' in fragment
    assert "<progress" in fragment
    recharge.apply_payment_event(providers.PaymentEvent("demo", order.reference, "DEMO-X1", "paid",
                                                        order.amount_fils, "KWD"))
    fragment = browser.get(f"/recharge/orders/{order.id}", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "hx-trigger" not in fragment and "Payment received" in fragment and "1,000" in fragment


def test_demo_provider_is_refused_in_production(app_config, redis_client):
    production = create_app(dict(app_config, PRODUCTION=True))
    account = make_account()
    assert [p.code for p in recharge.available_providers(production.config)] == []
    with pytest.raises(FieldErrors):
        recharge.create_order(account, provider_code="demo", config=production.config, package_id=make_package().id)
    with pytest.raises(FieldErrors):
        recharge.save_provider(make_account(role="admin"), provider_row("demo"), production.config,
                               label="Demo", is_enabled=True)
    client = production.test_client()
    assert client.post("/recharge/callback/demo", data={"reference": "x"}).status_code == 404


# ---------------------------------------------------------------- the hosted (KNET-style) provider

def test_hosted_checkout_redirects_with_a_signed_reference_and_amount(app, login):
    enable_hosted(app)
    package = make_package(points=2500, price="45.000")
    browser, account = login()
    response = browser.post("/recharge", data={"choice": str(package.id), "provider": "hosted"})
    assert response.status_code == 303
    target = urlparse(response.headers["Location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == GATEWAY
    fields = {k: v[0] for k, v in parse_qs(target.query).items()}
    order = Order.get(Order.account == account.id)
    assert fields["reference"] == order.reference and fields["amount"] == "45.000" and fields["currency"] == "KWD"
    assert fields["merchant_id"] == "MERCHANT-1" and fields["signature"] == knet_signature(fields)
    assert fields["callback_url"].endswith("/recharge/callback/hosted")
    # The browser may follow the redirect only because the page's CSP allows the gateway.
    assert "form-action 'self' https://pay.gateway.example" in response.headers["Content-Security-Policy"]


def test_callback_replayed_five_times_credits_once(app, client):
    enable_hosted(app)
    account = make_account(balance=5)
    order = hosted_order(app, account, make_package(points=1000))
    fields = knet_callback(order)
    answers = [client.post("/recharge/callback/hosted", data=fields) for _ in range(5)]
    assert [a.status_code for a in answers] == [200] * 5
    assert [a.get_json()["outcome"] for a in answers] == ["credited"] + ["duplicate"] * 4
    assert balance_of(account) == 1005 == ledger.ledger_sum(account)
    assert LedgerEntry.select().where(LedgerEntry.account == account.id, LedgerEntry.kind == "recharge",
                                      LedgerEntry.reference == order.reference).count() == 1
    order = Order.get_by_id(order.id)
    assert order.status == "paid" and order.provider_reference == "TX-1001" and order.paid_at is not None


def test_forged_signature_is_rejected_and_logged(app, client):
    enable_hosted(app)
    account = make_account()
    order = hosted_order(app, account, make_package())
    forged = knet_callback(order, secret="guessed-secret")
    assert client.post("/recharge/callback/hosted", data=forged).status_code == 400
    tampered = knet_callback(order)
    tampered["amount"] = "1500.000"  # changed after signing
    assert client.post("/recharge/callback/hosted", data=tampered).status_code == 400
    unsigned = {k: v for k, v in knet_callback(order).items() if k != "signature"}
    assert client.post("/recharge/callback/hosted", data=unsigned).status_code == 400
    garbled = dict(knet_callback(order), signature="é" * 64)  # odd input is a rejection, not a crash
    assert client.post("/recharge/callback/hosted", data=garbled).status_code == 400
    assert balance_of(account) == 0 and Order.get_by_id(order.id).status == "pending"
    assert outcomes() == ["bad_signature"] * 4


def test_wrong_amount_is_not_credited(app, client):
    enable_hosted(app)
    account = make_account()
    order = hosted_order(app, account, make_package(price="15.000"))
    answer = client.post("/recharge/callback/hosted", data=knet_callback(order, amount="1.500"))
    assert answer.status_code == 200 and answer.get_json()["outcome"] == "amount_mismatch"
    assert balance_of(account) == 0 and Order.get_by_id(order.id).status == "pending"
    assert "paid 1500 fils, order is 15000 fils" in PaymentCallback.get().detail


def test_wrong_currency_is_not_credited(app, client):
    enable_hosted(app)
    account = make_account()
    order = hosted_order(app, account, make_package())
    answer = client.post("/recharge/callback/hosted", data=knet_callback(order, currency="USD"))
    assert answer.get_json()["outcome"] == "currency_mismatch" and balance_of(account) == 0


def test_unknown_order_is_answered_and_logged(app, client):
    enable_hosted(app)
    fields = {"reference": "KSNOSUCHORDER", "amount": "15.000", "currency": "KWD", "status": "CAPTURED",
              "transaction_id": "TX-9"}
    fields["signature"] = knet_signature(fields)
    answer = client.post("/recharge/callback/hosted", data=fields)
    assert answer.status_code == 200 and answer.get_json()["outcome"] == "unknown_order"
    assert LedgerEntry.select().where(LedgerEntry.kind == "recharge").count() == 0
    assert PaymentCallback.get().order_reference == "KSNOSUCHORDER"


def test_expired_order_is_not_credited(app, client):
    enable_hosted(app)
    account = make_account()
    order = hosted_order(app, account, make_package())
    ttl = app.config["RECHARGE_ORDER_TTL_MINUTES"]
    assert (order.expires_at - order.created_at).total_seconds() == ttl * 60
    Order.update(expires_at=utcnow().replace(year=2020)).where(Order.id == order.id).execute()
    answer = client.post("/recharge/callback/hosted", data=knet_callback(order))
    assert answer.get_json()["outcome"] == "expired"
    assert balance_of(account) == 0 and Order.get_by_id(order.id).status == "expired"


def test_stale_orders_expire_in_bulk_by_the_clock_without_anyone_looking(app):
    from kwtsms.dispatch import clock
    account = make_account()
    package = make_package()
    old = recharge.create_order(account, provider_code="demo", config=app.config, package_id=package.id,
                                now=utcnow().replace(year=2020))
    fresh = recharge.create_order(account, provider_code="demo", config=app.config, package_id=package.id)
    assert clock.run_once(app, due={"expire recharge orders"}) == {"expire recharge orders": 1}
    assert Order.get_by_id(old.id).status == "expired" and Order.get_by_id(fresh.id).status == "pending"


def test_already_paid_order_is_not_credited_again_by_another_payment(app, client):
    enable_hosted(app)
    account = make_account()
    order = hosted_order(app, account, make_package(points=1000))
    client.post("/recharge/callback/hosted", data=knet_callback(order, transaction_id="TX-A"))
    answer = client.post("/recharge/callback/hosted", data=knet_callback(order, transaction_id="TX-B"))
    assert answer.get_json()["outcome"] == "already_paid" and balance_of(account) == 1000


def test_failed_payment_marks_the_order_failed(app, client):
    enable_hosted(app)
    account = make_account()
    order = hosted_order(app, account, make_package())
    answer = client.post("/recharge/callback/hosted", data=knet_callback(order, status="NOT CAPTURED"))
    assert answer.get_json()["outcome"] == "marked_failed" and Order.get_by_id(order.id).status == "failed"


def test_callback_from_another_provider_than_the_orders_is_ignored(app, client):
    enable_hosted(app)
    account = make_account()
    order = recharge.create_order(account, provider_code="demo", config=app.config, package_id=make_package().id)
    answer = client.post("/recharge/callback/hosted", data=knet_callback(order))
    assert answer.get_json()["outcome"] == "provider_mismatch" and balance_of(account) == 0


def test_customer_cancels_a_pending_order(login):
    package = make_package()
    browser, account = login()
    browser.post("/recharge", data={"choice": str(package.id), "provider": "demo"})
    order = Order.get(Order.account == account.id)
    assert 'hx-confirm="Cancel this order?' in browser.get(f"/recharge/orders/{order.id}").get_data(as_text=True)
    assert browser.post(f"/recharge/orders/{order.id}/cancel").status_code == 303
    assert Order.get_by_id(order.id).status == "cancelled"


# ---------------------------------------------------------------- Stripe

def test_stripe_checkout_creates_a_session_in_fils(app, login, monkeypatch):
    enable_stripe(app)
    calls = []

    def fake_session(api_key, **params):  # Stripe's servers are the one thing not called in tests
        calls.append((api_key, params))
        return {"id": "cs_test_123", "url": "https://checkout.stripe.com/c/pay/cs_test_123"}

    monkeypatch.setattr(providers, "create_stripe_checkout_session", fake_session)
    package = make_package(points=2500, price="45.000")
    browser, account = login()
    response = browser.post("/recharge", data={"choice": str(package.id), "provider": "stripe"})
    assert response.status_code == 303 and response.headers["Location"] == "https://checkout.stripe.com/c/pay/cs_test_123"
    assert "form-action 'self' https://checkout.stripe.com" in response.headers["Content-Security-Policy"]
    order = Order.get(Order.account == account.id)
    api_key, params = calls[0]
    assert api_key == "sk_test_not_a_real_key" and params["client_reference_id"] == order.reference
    price = params["line_items"][0]["price_data"]
    assert price["currency"] == "kwd" and price["unit_amount"] == 45000
    assert params["success_url"].endswith(f"/recharge/orders/{order.id}")


def test_stripe_error_marks_the_order_failed_with_a_message(app, login, monkeypatch):
    enable_stripe(app)

    def refusing(api_key, **params):
        raise stripe.AuthenticationError("Invalid API Key provided")

    monkeypatch.setattr(providers, "create_stripe_checkout_session", refusing)
    browser, account = login()
    response = browser.post("/recharge", data={"choice": str(make_package().id), "provider": "stripe"})
    assert response.status_code == 502 and "refused the order" in response.get_data(as_text=True)
    assert Order.get(Order.account == account.id).status == "failed"


def test_stripe_webhook_verified_with_the_librarys_check_credits_once(app, client):
    enable_stripe(app)
    account = make_account()
    order = recharge.create_order(account, provider_code="stripe", config=app.config,
                                  package_id=make_package(points=1000).id)
    payload = stripe_event(order)
    # Our own signature and the library's helper agree: the header format is Stripe's.
    assert stripe.WebhookSignature.verify_header(payload, stripe_signature(payload), STRIPE_WEBHOOK_SECRET)
    for _ in range(5):
        answer = post_stripe(client, payload, stripe_signature(payload))
        assert answer.status_code == 200
    assert balance_of(account) == 1000 == ledger.ledger_sum(account)
    assert outcomes(order) == ["credited"] + ["duplicate"] * 4
    assert Order.get_by_id(order.id).provider_reference == "cs_test_a1"


def test_stripe_webhook_with_a_bad_or_old_signature_is_rejected(app, client):
    enable_stripe(app)
    account = make_account()
    order = recharge.create_order(account, provider_code="stripe", config=app.config, package_id=make_package().id)
    payload = stripe_event(order)
    assert post_stripe(client, payload, stripe_signature(payload, secret="whsec_forged")).status_code == 400
    assert post_stripe(client, payload, stripe_signature(payload, timestamp=int(time.time()) - 3600)).status_code == 400
    assert post_stripe(client, payload.replace("\"amount_total\": 15000", "\"amount_total\": 150"), stripe_signature(payload)).status_code == 400
    assert post_stripe(client, payload, "").status_code == 400
    assert balance_of(account) == 0 and outcomes() == ["bad_signature"] * 4


def test_stripe_webhook_amount_currency_and_other_events(app, client):
    enable_stripe(app)
    account = make_account()
    order = recharge.create_order(account, provider_code="stripe", config=app.config, package_id=make_package().id)
    for payload, expected in (
        (stripe_event(order, session_id="cs_1", amount=10), "amount_mismatch"),
        (stripe_event(order, session_id="cs_2", currency="usd"), "currency_mismatch"),
        (stripe_event(order, session_id="cs_3", kind="customer.created"), "ignored"),
        (stripe_event(order, session_id="cs_4", payment_status="unpaid"), "ignored"),
    ):
        answer = post_stripe(client, payload, stripe_signature(payload))
        assert answer.status_code == 200 and answer.get_json()["outcome"] == expected
    assert balance_of(account) == 0
    payload = stripe_event(order, session_id="cs_5", kind="checkout.session.expired")
    assert post_stripe(client, payload, stripe_signature(payload)).get_json()["outcome"] == "marked_cancelled"


def test_stripe_needs_amounts_in_steps_of_ten_fils(app, login):
    enable_stripe(app)
    recharge.save_settings(make_account(role="admin"), min_amount="1", max_amount="500", points_per_kwd=100)
    browser, account = login()
    response = browser.post("/recharge", data={"choice": "custom", "amount": "12.345", "provider": "stripe"})
    assert response.status_code == 502 and "steps of 0.010 KWD" in response.get_data(as_text=True)


# ---------------------------------------------------------------- history, receipts, scoping

def _paid_order(app, account, points=1000, price="15.000"):
    order = recharge.create_order(account, provider_code="demo", config=app.config,
                                  package_id=make_package(points=points, price=price).id)
    recharge.apply_payment_event(providers.PaymentEvent("demo", order.reference, "DEMO-" + order.reference,
                                                        "paid", order.amount_fils, "KWD"))
    return Order.get_by_id(order.id)


def test_order_history_and_printable_receipt(app, login):
    browser, account = login()
    assert "No orders yet" in browser.get("/recharge/orders").get_data(as_text=True)
    order = _paid_order(app, account)
    history = browser.get("/recharge/orders").get_data(as_text=True)
    assert order.reference in history and "table-cards" in history and 'data-label="Amount"' in history
    receipt = browser.get(f"/recharge/orders/{order.id}/receipt")
    text = receipt.get_data(as_text=True)
    assert receipt.status_code == 200 and order.reference in text and "15.000" in text and "1,000" in text
    assert 'href="/static/print.css" media="print"' in text and "data-print" in text
    assert "<script>" not in text and "style=" not in text


def test_no_receipt_for_an_unpaid_order(app, login):
    browser, account = login()
    order = recharge.create_order(account, provider_code="demo", config=app.config, package_id=make_package().id)
    assert browser.get(f"/recharge/orders/{order.id}/receipt").status_code == 404


def test_another_accounts_order_is_404(app, login):
    browser, _ = login()
    other = make_account()
    order = _paid_order(app, other)
    pending = recharge.create_order(other, provider_code="demo", config=app.config, package_id=make_package().id)
    for url in (f"/recharge/orders/{order.id}", f"/recharge/orders/{order.id}/receipt",
                f"/recharge/demo/{pending.id}"):
        assert browser.get(url).status_code == 404
    assert browser.post(f"/recharge/orders/{pending.id}/cancel").status_code == 404
    assert Order.get_by_id(pending.id).status == "pending"


@pytest.mark.parametrize("url", ["/recharge", "/recharge/orders", "/recharge/orders/1", "/recharge/alert",
                                 "/recharge/orders/1/receipt", "/recharge/demo/1"])
def test_recharge_pages_need_login(client, url):
    response = client.get(url)
    assert response.status_code == 302 and "/login?next=" in response.headers["Location"]


# ---------------------------------------------------------------- admin

def test_admin_refunds_a_paid_order_with_a_reason(app, login):
    admin_client, admin = login("admin")
    account = make_account()
    order = _paid_order(app, account, points=1000)
    response = admin_client.post(f"/admin/orders/{order.id}/refund", data={"reason": ""})
    assert response.status_code == 400 and balance_of(account) == 1000
    response = admin_client.post(f"/admin/orders/{order.id}/refund", data={"reason": "customer asked"})
    assert response.status_code == 303
    assert balance_of(account) == 0 == ledger.ledger_sum(account)
    order = Order.get_by_id(order.id)
    assert order.status == "refunded" and order.refund_reason == "customer asked" and order.refunded_by_id == admin.id
    audit = AuditLog.get(AuditLog.action == "order.refunded")
    assert audit.actor_id == admin.id and json.loads(audit.details)["reason"] == "customer asked"
    # A second refund is refused.
    response = admin_client.post(f"/admin/orders/{order.id}/refund", data={"reason": "again"})
    assert response.status_code == 400 and balance_of(account) == 0


def test_refund_refused_when_the_points_were_spent(app, login):
    admin_client, _ = login("admin")
    account = make_account()
    order = _paid_order(app, account, points=1000)
    ledger.charge(account, 400, reason="campaign")
    response = admin_client.post(f"/admin/orders/{order.id}/refund", data={"reason": "chargeback"})
    assert response.status_code == 400 and "only 600 points left" in response.get_data(as_text=True)
    assert balance_of(account) == 600 and Order.get_by_id(order.id).status == "paid"


def test_admin_orders_list_search_and_callbacks(app, login):
    admin_client, _ = login("admin")
    account = make_account(company="Pearl Traders")
    order = _paid_order(app, account)
    page = admin_client.get("/admin/orders").get_data(as_text=True)
    assert order.reference in page and "Pearl Traders" in page
    fragment = admin_client.get("/admin/orders?q=nothing-like-this", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in fragment and "No order matches" in fragment
    assert order.reference in admin_client.get(f"/admin/orders?account={account.id}&status=paid").get_data(as_text=True)
    detail = admin_client.get(f"/admin/orders/{order.id}").get_data(as_text=True)
    assert "credited" in detail and "Refund this order" in detail
    assert "credited" in admin_client.get("/admin/payment-callbacks").get_data(as_text=True)
    assert f"/admin/orders?account={account.id}" in admin_client.get(f"/admin/accounts/{account.id}").get_data(as_text=True)


def test_admin_manages_packages_and_limits(login):
    admin_client, admin = login("admin")
    response = admin_client.post("/admin/packages", data={"name": "Mega", "points": "5000", "price": "abc"})
    assert response.status_code == 400 and "as a number" in response.get_data(as_text=True)
    response = admin_client.post("/admin/packages", data={"name": "Mega", "points": "5000", "price": "70.250",
                                                          "is_active": "y"})
    assert response.status_code == 303
    from kwtsms.models import Package
    package = Package.get(Package.name == "Mega")
    assert package.price_fils == 70250 and package.points == 5000
    assert admin_client.post(f"/admin/packages/{package.id}/toggle").status_code == 303
    assert not Package.get_by_id(package.id).is_active
    response = admin_client.post("/admin/recharge-limits", data={"min_amount": "50", "max_amount": "10",
                                                                 "points_per_kwd": "60"})
    assert response.status_code == 400 and "must not be less" in response.get_data(as_text=True)
    assert admin_client.post("/admin/recharge-limits", data={"min_amount": "2.5", "max_amount": "250",
                                                             "points_per_kwd": "60"}).status_code == 303
    settings = recharge.get_settings()
    assert (settings.min_custom_fils, settings.max_custom_fils, settings.points_per_kwd) == (2500, 250000, 60)
    actions = {a.action for a in AuditLog.select()}
    assert {"package.created", "package.changed", "recharge.settings_changed"} <= actions


def test_admin_provider_secrets_are_never_shown_in_full(app, login):
    admin_client, _ = login("admin")
    response = admin_client.post("/admin/payment-providers/hosted", data={
        "label": "KNET", "is_enabled": "y", "gateway_url": GATEWAY, "merchant_id": "M-77",
        "secret": "super-secret-shared-value-9876"})
    assert response.status_code == 303
    page = admin_client.get("/admin/payment-providers/hosted").get_data(as_text=True)
    assert "super-secret-shared-value" not in page and "…9876" in page
    # Saving again with an empty secret keeps the stored one.
    admin_client.post("/admin/payment-providers/hosted", data={"label": "KNET", "is_enabled": "y",
                                                               "gateway_url": GATEWAY, "secret": ""})
    assert provider_row("hosted").secret == "super-secret-shared-value-9876"
    assert "Offered" in admin_client.get("/admin/payment-providers").get_data(as_text=True)
    assert "super-secret" not in AuditLog.get(AuditLog.action == "payment_provider.changed").details


def test_admin_recharge_pages_do_not_exist_for_customers(login):
    browser, _ = login()
    for url in ("/admin/orders", "/admin/packages", "/admin/payment-providers", "/admin/payment-callbacks",
                "/admin/orders/1", "/admin/payment-providers/stripe"):
        assert browser.get(url).status_code == 404
    assert browser.post("/admin/orders/1/refund", data={"reason": "x"}).status_code == 404


# ---------------------------------------------------------------- low-balance alert

def _alert_emails(caplog, account):
    return [r for r in caplog.records if r.name == "kwtsms.mail" and account.email in r.getMessage()
            and "balance is low" in r.getMessage()]


def test_low_balance_alert_is_sent_once_per_crossing(app, caplog):
    caplog.set_level("WARNING", logger="kwtsms.mail")
    account = make_account(balance=150)
    with app.test_request_context():
        recharge.set_low_balance_threshold(account, 100)
        assert _alert_emails(caplog, account) == []  # 150 is not below 100
        ledger.charge(account, 60)
        assert recharge.check_low_balance(account.id) is True
        ledger.charge(account, 10)
        assert recharge.check_low_balance(account.id) is False  # still below: no second email
        assert len(_alert_emails(caplog, account)) == 1
        assert Account.get_by_id(account.id).low_balance_alerted
        ledger.credit(account, 500)
        recharge.check_low_balance(account.id)  # back above: re-armed
        assert not Account.get_by_id(account.id).low_balance_alerted
        ledger.charge(account, 520)
        assert recharge.check_low_balance(account.id) is True
    assert len(_alert_emails(caplog, account)) == 2
    assert "/recharge" in _alert_emails(caplog, account)[0].getMessage()
    assert AuditLog.select().where(AuditLog.action == "low_balance.alerted").count() == 2


def test_a_paid_order_rearms_the_alert(app):
    account = make_account(balance=10)
    with app.test_request_context():
        recharge.set_low_balance_threshold(account, 100)  # already below: alerted now
    assert Account.get_by_id(account.id).low_balance_alerted
    _paid_order(app, account, points=1000)
    assert not Account.get_by_id(account.id).low_balance_alerted


def test_low_balance_setting_page(login):
    browser, account = login()
    for bad in ("-5", "abc", ""):
        response = browser.post("/recharge/alert", data={"threshold": bad})
        assert response.status_code == 400 and "whole number of points" in response.get_data(as_text=True)
    assert browser.post("/recharge/alert", data={"threshold": "250"}).status_code == 303
    assert Account.get_by_id(account.id).low_balance_threshold == 250
    assert 'value="250"' in browser.get("/recharge/alert").get_data(as_text=True)


def test_callbacks_skip_csrf_but_the_recharge_form_does_not(app_config, redis_client):
    strict = create_app(dict(app_config, WTF_CSRF_ENABLED=True))
    enable_hosted(strict)
    account = make_account()
    order = hosted_order(strict, account, make_package(points=400))
    client = strict.test_client()
    answer = client.post("/recharge/callback/hosted", data=knet_callback(order))
    assert answer.status_code == 200 and answer.get_json()["outcome"] == "credited"
    assert balance_of(account) == 400
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', client.get("/login").get_data(as_text=True)).group(1)
    assert client.post("/login", data={"email": account.email, "password": DEFAULT_PASSWORD,
                                       "csrf_token": token}).status_code == 302
    response = client.post("/recharge", data={"choice": "custom", "amount": "10", "provider": "demo"})
    assert response.status_code == 400 and "Form expired" in response.get_data(as_text=True)
    assert Order.select().count() == 1


def test_hosted_callbacks_are_refused_while_no_secret_is_configured(app, client):
    account = make_account()
    # No provider settings at all: an HMAC with an empty key must not be accepted.
    order = recharge.create_order(account, provider_code="demo", config=app.config, package_id=make_package().id)
    Order.update(provider="hosted").where(Order.id == order.id).execute()
    fields = knet_callback(order, secret="")
    assert client.post("/recharge/callback/hosted", data=fields).status_code == 400
    assert balance_of(account) == 0 and "no shared secret" in PaymentCallback.get().detail
