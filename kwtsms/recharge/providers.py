"""Payment providers behind one small interface.

    provider.start_checkout(order, urls) -> the URL to send the customer to
    provider.parse_callback(request)     -> a verified PaymentEvent, or raises CallbackRejected

Three providers:
- `stripe`: Stripe Checkout through the `stripe` library; webhooks are verified with
  `stripe.Webhook.construct_event` (the library's own signature check).
- `hosted`: a generic hosted payment page of the kind Kuwaiti KNET gateways offer. We
  redirect to the gateway with the order reference and amount (signed), and the gateway
  posts back a callback whose fields are signed with HMAC-SHA256 and a shared secret.
- `demo`: the same protocol as `hosted`, but the "gateway" is our own fake payment page
  with Pay and Cancel, signed with a key derived from SECRET_KEY. Refused in production.

Crediting is not done here: the callback view hands the PaymentEvent to
`service.apply_payment_event`, the one path every provider goes through.
"""
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from urllib.parse import urlencode, urlparse

import stripe
from flask import url_for
from flask_babel import lazy_gettext as _l

from .money import CURRENCY, AmountError, kwd_plain, parse_kwd

STRIPE, HOSTED, DEMO = "stripe", "hosted", "demo"
CODES = (STRIPE, HOSTED, DEMO)
PAID, CANCELLED, FAILED, IGNORED = "paid", "cancelled", "failed", "ignored"


@dataclass(frozen=True)
class PaymentEvent:
    """What a verified callback says happened to one of our orders."""
    provider: str
    order_reference: str
    provider_reference: str
    status: str  # paid, cancelled, failed, or ignored (an event type we do not act on)
    amount_fils: int | None
    currency: str
    payload: str = ""


@dataclass(frozen=True)
class CheckoutUrls:
    return_url: str    # where the customer lands after paying (the order page)
    cancel_url: str    # where the customer lands after giving up
    callback_url: str  # where the provider posts its signed confirmation


class ProviderError(Exception):
    """The checkout could not be started; the message is safe to show to the customer."""


class CallbackRejected(Exception):
    """A callback whose signature or format is wrong: nothing is done with it."""


def mask(secret):
    """A secret as the admin pages show it: never in full."""
    if not secret:
        return ""
    return "…" + secret[-4:] if len(secret) > 8 else "…"


# ---------------------------------------------------------------- the interface

class Provider:
    code = ""
    needs = ()  # names of the settings without which the provider cannot work

    def __init__(self, row, config):
        self.row = row
        self.config = config

    @property
    def label(self):
        return self.row.label or self.code

    def missing_settings(self):
        return [name for name in self.needs if not getattr(self, name)]

    def is_available(self):
        return bool(self.row.is_enabled) and not self.missing_settings()

    def checkout_origin(self):
        """The origin the recharge form's redirect goes to (our CSP's form-action must allow it)."""
        return None

    def start_checkout(self, order, urls):  # pragma: no cover - interface
        raise NotImplementedError

    def parse_callback(self, request):  # pragma: no cover - interface
        raise NotImplementedError


# ---------------------------------------------------------------- Stripe Checkout

def create_stripe_checkout_session(api_key, **params):
    """The one call to Stripe's servers. Tests replace this function (never the webhook check)."""
    return stripe.checkout.Session.create(api_key=api_key, **params)


class StripeProvider(Provider):
    code = STRIPE
    needs = ("secret_key", "webhook_secret")
    # Stripe event types we act on; any other type is acknowledged and ignored.
    PAID_EVENTS = ("checkout.session.completed", "checkout.session.async_payment_succeeded")
    FAILED_EVENTS = ("checkout.session.async_payment_failed",)
    CANCELLED_EVENTS = ("checkout.session.expired",)

    @property
    def secret_key(self):
        return self.row.secret or self.config.get("STRIPE_SECRET_KEY", "")

    @property
    def webhook_secret(self):
        return self.row.secret2 or self.config.get("STRIPE_WEBHOOK_SECRET", "")

    def checkout_origin(self):
        return "https://checkout.stripe.com"

    def start_checkout(self, order, urls):
        if order.amount_fils % 10:
            # Stripe takes three-decimal currencies in steps of 10 fils.
            raise ProviderError(_l("Card payments take amounts in steps of 0.010 KWD."))
        try:
            session = create_stripe_checkout_session(
                self.secret_key,
                mode="payment",
                client_reference_id=order.reference,
                metadata={"order_reference": order.reference},
                customer_email=order.account.email,
                line_items=[{
                    "quantity": 1,
                    "price_data": {
                        "currency": order.currency.lower(),
                        "unit_amount": order.amount_fils,  # fils: Stripe's smallest KWD unit
                        "product_data": {"name": order.description or f"{order.points} SMS points"},
                    },
                }],
                success_url=urls.return_url,
                cancel_url=urls.cancel_url,
            )
        except stripe.StripeError as error:
            raise ProviderError(_l("The card payment service refused the order (%(error)s). Try again later.",
                                   error=getattr(error, "user_message", None) or type(error).__name__)) from error
        url = session["url"]
        if not url:
            raise ProviderError(_l("The card payment service did not return a payment page."))
        return url

    def parse_callback(self, request):
        payload = request.get_data(as_text=True)
        try:
            event = stripe.Webhook.construct_event(payload, request.headers.get("Stripe-Signature"),
                                                   self.webhook_secret).to_dict()
        except stripe.SignatureVerificationError as error:
            raise CallbackRejected(f"stripe signature: {error}") from error
        except (ValueError, KeyError, TypeError) as error:
            raise CallbackRejected(f"stripe payload: {error}") from error
        kind = event.get("type", "")
        session = (event.get("data") or {}).get("object") or {}
        if kind in self.PAID_EVENTS:
            status = PAID if session.get("payment_status") in ("paid", "no_payment_required") else IGNORED
        elif kind in self.FAILED_EVENTS:
            status = FAILED
        elif kind in self.CANCELLED_EVENTS:
            status = CANCELLED
        else:
            status = IGNORED
        reference = session.get("client_reference_id") or (session.get("metadata") or {}).get("order_reference") or ""
        amount = session.get("amount_total")
        return PaymentEvent(
            provider=self.code, order_reference=str(reference), provider_reference=str(session.get("id") or ""),
            status=status, amount_fils=amount if isinstance(amount, int) else None,
            currency=str(session.get("currency") or "").upper(), payload=payload)


# ---------------------------------------------------------------- hosted payment page (KNET style)

def sign_fields(fields, secret):
    """HMAC-SHA256 (hex) with the shared secret over the fields other than `signature`,
    sorted by name and form-encoded: `amount=12.500&currency=KWD&reference=...`."""
    message = urlencode(sorted((k, str(v)) for k, v in fields.items() if k != "signature"))
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


class HostedPageProvider(Provider):
    """Redirect: GATEWAY_URL?merchant_id&reference&amount&currency&return_url&callback_url&signature.

    Callback (POST, form-encoded): reference, amount (KWD, e.g. 12.500), currency,
    status (paid/CAPTURED, cancelled/CANCELED, anything else is a failure),
    transaction_id (the gateway's reference), any other fields, and signature.
    """
    code = HOSTED
    needs = ("gateway_url", "secret")
    REQUIRED = ("reference", "amount", "currency", "status", "transaction_id", "signature")
    PAID_STATUSES = {"paid", "captured", "success", "approved"}
    CANCELLED_STATUSES = {"cancelled", "canceled", "cancel"}

    @property
    def gateway_url(self):
        return self.row.gateway_url or self.config.get("HOSTED_PAYMENT_URL", "")

    @property
    def merchant_id(self):
        return self.row.merchant_id or self.config.get("HOSTED_PAYMENT_MERCHANT_ID", "")

    @property
    def secret(self):
        return self.row.secret or self.config.get("HOSTED_PAYMENT_SECRET", "")

    def checkout_fields(self, order, urls):
        fields = {"merchant_id": self.merchant_id, "reference": order.reference,
                  "amount": kwd_plain(order.amount_fils), "currency": order.currency,
                  "return_url": urls.return_url, "callback_url": urls.callback_url}
        fields["signature"] = sign_fields(fields, self.secret)
        return fields

    def checkout_origin(self):
        parsed = urlparse(self.gateway_url)
        return f"{parsed.scheme}://{parsed.netloc}" if parsed.scheme in ("http", "https") and parsed.netloc else None

    def start_checkout(self, order, urls):
        separator = "&" if "?" in self.gateway_url else "?"
        return self.gateway_url + separator + urlencode(self.checkout_fields(order, urls))

    def parse_callback(self, request):
        fields = {key: request.form.get(key, "") for key in request.form}
        payload = json.dumps({k: v for k, v in fields.items() if k != "signature"}, sort_keys=True)
        if not self.secret:
            raise CallbackRejected("no shared secret is configured")  # never accept a key-less HMAC
        missing = [key for key in self.REQUIRED if not fields.get(key)]
        if missing:
            raise CallbackRejected("missing fields: " + ", ".join(missing))
        expected = sign_fields(fields, self.secret)
        if not hmac.compare_digest(expected.encode(), fields["signature"].strip().lower().encode()):
            raise CallbackRejected("signature does not match")
        status = fields["status"].strip().lower()
        if status in self.PAID_STATUSES:
            status = PAID
        elif status in self.CANCELLED_STATUSES:
            status = CANCELLED
        else:
            status = FAILED
        try:
            amount = parse_kwd(fields["amount"])
        except AmountError:
            amount = None
        return PaymentEvent(provider=self.code, order_reference=fields["reference"],
                            provider_reference=fields["transaction_id"], status=status,
                            amount_fils=amount, currency=fields["currency"].strip().upper(), payload=payload)


class DemoProvider(HostedPageProvider):
    """`make run`'s provider: our own fake payment page, signed with a key derived from SECRET_KEY."""
    code = DEMO
    needs = ()

    @property
    def secret(self):
        return hmac.new(self.config["SECRET_KEY"].encode(), b"kwtsms demo payments", hashlib.sha256).hexdigest()

    def is_available(self):
        return not self.config.get("PRODUCTION") and bool(self.row.is_enabled)

    def checkout_origin(self):
        return None  # our own page

    def start_checkout(self, order, urls):
        if self.config.get("PRODUCTION"):
            raise ProviderError(_l("The demo payment provider is not available on this portal."))
        return url_for("recharge.demo_pay", order_id=order.id)

    def demo_fields(self, order, status):
        """The signed callback the fake page's Pay (status=paid) or Cancel button posts."""
        fields = {"reference": order.reference, "amount": kwd_plain(order.amount_fils),
                  "currency": order.currency or CURRENCY, "status": status,
                  "transaction_id": "DEMO-" + secrets.token_hex(8).upper()}
        fields["signature"] = sign_fields(fields, self.secret)
        return fields


CLASSES = {STRIPE: StripeProvider, HOSTED: HostedPageProvider, DEMO: DemoProvider}


def build(row, config):
    return CLASSES[row.code](row, config)
