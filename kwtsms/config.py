"""Every setting comes from the environment, with defaults that are safe for local use."""
import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = Path(os.environ.get("KWTSMS_INSTANCE_DIR", PROJECT_ROOT / "instance"))

# The development secret is public (it is in this file); production refuses it.
DEV_SECRET_KEY = "dev-only-insecure-secret-key"


def _bool(name, default):
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(name, default):
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def from_environment():
    """Build the Flask config mapping from environment variables."""
    env = os.environ.get("KWTSMS_ENV", "development").strip().lower()
    production = env == "production"
    return {
        "ENV_NAME": env,
        "PRODUCTION": production,
        "SECRET_KEY": os.environ.get("SECRET_KEY", DEV_SECRET_KEY),
        "DATABASE_URL": os.environ.get(
            "DATABASE_URL", f"sqlite:///{INSTANCE_DIR / 'kwtsms.db'}"
        ),
        # Unset means "no Redis": rate limits fall back to process memory and
        # `make run` starts an embedded server and sets this variable itself.
        "REDIS_URL": os.environ.get("REDIS_URL") or None,
        "PUBLIC_BASE_URL": os.environ.get("PUBLIC_BASE_URL", "").rstrip("/"),
        "SMTP_HOST": os.environ.get("SMTP_HOST", ""),
        "SMTP_PORT": _int("SMTP_PORT", 587),
        "SMTP_USER": os.environ.get("SMTP_USER", ""),
        "SMTP_PASSWORD": os.environ.get("SMTP_PASSWORD", ""),
        "SMTP_STARTTLS": _bool("SMTP_STARTTLS", True),
        "MAIL_FROM": os.environ.get("MAIL_FROM", "kwtsms portal <no-reply@localhost>"),
        "PASSWORD_RESET_MAX_AGE": _int("PASSWORD_RESET_MAX_AGE", 3600),
        "LOGIN_RATE_LIMIT": os.environ.get("LOGIN_RATE_LIMIT", "10 per minute"),
        "SESSION_COOKIE_SECURE": _bool("SESSION_COOKIE_SECURE", production),
        "REMEMBER_COOKIE_SECURE": _bool("SESSION_COOKIE_SECURE", production),
        "SESSION_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_DURATION": _int("REMEMBER_DAYS", 30) * 86400,
        "WTF_CSRF_TIME_LIMIT": None,  # token lives as long as the session
        "BABEL_DEFAULT_LOCALE": "en",
        "BABEL_DEFAULT_TIMEZONE": "Asia/Kuwait",
        "BABEL_TRANSLATION_DIRECTORIES": str(PROJECT_ROOT / "kwtsms" / "translations"),
        "LANGUAGES": ("en", "ar"),
        "PAGE_SIZE": _int("PAGE_SIZE", 50),
        # Uploaded contact files wait here for the import job: with workers on
        # several hosts it must be a shared directory.
        "UPLOAD_DIR": os.environ.get("UPLOAD_DIR", str(INSTANCE_DIR / "uploads")),
        "MAX_UPLOAD_MB": _int("MAX_UPLOAD_MB", 50),
        # kwtSMS refuses a send (ERR013) while this many of the account's messages wait.
        "MAX_QUEUED_MESSAGES": _int("MAX_QUEUED_MESSAGES", 1000),
        # Recharge (kwtsms.recharge): an unpaid order expires after this many minutes;
        # provider keys here are used unless the admin stored others on the providers page.
        "RECHARGE_ORDER_TTL_MINUTES": _int("RECHARGE_ORDER_TTL_MINUTES", 60),
        "STRIPE_SECRET_KEY": os.environ.get("STRIPE_SECRET_KEY", ""),
        "STRIPE_WEBHOOK_SECRET": os.environ.get("STRIPE_WEBHOOK_SECRET", ""),
        "HOSTED_PAYMENT_URL": os.environ.get("HOSTED_PAYMENT_URL", ""),
        "HOSTED_PAYMENT_MERCHANT_ID": os.environ.get("HOSTED_PAYMENT_MERCHANT_ID", ""),
        "HOSTED_PAYMENT_SECRET": os.environ.get("HOSTED_PAYMENT_SECRET", ""),
        # The developer API (kwtsms.api): requests per client IP ("5 per second", "50/minute";
        # kwtSMS allows 5 a second), whether accounts have API access until the operator
        # says otherwise, the largest request body, and delivery-report webhooks.
        "API_RATE_LIMIT": os.environ.get("API_RATE_LIMIT", "5 per second"),
        "API_ACCESS_DEFAULT": _bool("API_ACCESS_DEFAULT", True),
        "API_MAX_BODY_BYTES": _int("API_MAX_BODY_BYTES", 2 * 1024 * 1024),
        "WEBHOOK_TIMEOUT_SECONDS": _int("WEBHOOK_TIMEOUT_SECONDS", 10),
        "WEBHOOK_RETRY_DELAYS": os.environ.get("WEBHOOK_RETRY_DELAYS", "10,60,300,1800,7200"),
        # Webhooks to loopback or private addresses are refused unless allowed (on outside production).
        "WEBHOOK_ALLOW_PRIVATE": _bool("WEBHOOK_ALLOW_PRIVATE", not production),
        # Dispatch (kwtsms.dispatch). Final states that give the points back (any of
        # failed, rejected, expired; "none" for no refunds), recipients per RQ job, hours
        # a message may wait before it expires, hours to wait for a delivery report
        # after submitting, and whether numbers without a route go to the development
        # sink (never in production: they wait for a route until they expire).
        "DISPATCH_REFUND_STATES": os.environ.get("DISPATCH_REFUND_STATES", "failed,rejected,expired"),
        "DISPATCH_BATCH_SIZE": _int("DISPATCH_BATCH_SIZE", 2000),
        "DISPATCH_VALIDITY_HOURS": _int("DISPATCH_VALIDITY_HOURS", 24),
        "DISPATCH_RECEIPT_WAIT_HOURS": _int("DISPATCH_RECEIPT_WAIT_HOURS", 48),
        "DISPATCH_DEV_SINK": _bool("DISPATCH_DEV_SINK", not production),
        # Seconds without a heartbeat before a batch's worker counts as dead.
        "DISPATCH_STALE_SECONDS": _int("DISPATCH_STALE_SECONDS", 60),
        "DISPATCH_UPSTREAM_POLL_SECONDS": _int("DISPATCH_UPSTREAM_POLL_SECONDS", 60),
        # Support (kwtsms.support): undelivered messages may be reported this many hours
        # after sending; customers' posts are emailed to SUPPORT_EMAIL (empty: none);
        # attachments (images, PDF) live in ATTACHMENT_DIR, never under static/.
        "COMPLAINT_WINDOW_HOURS": _int("COMPLAINT_WINDOW_HOURS", 24),
        "SUPPORT_EMAIL": os.environ.get("SUPPORT_EMAIL", ""),
        "ATTACHMENT_DIR": os.environ.get("ATTACHMENT_DIR", str(INSTANCE_DIR / "attachments")),
        "ATTACHMENT_MAX_MB": _int("ATTACHMENT_MAX_MB", 5),
    }


class ConfigError(RuntimeError):
    """The configuration is unsafe or incomplete; the app must not start."""


def check_production_safety(config):
    if config["PRODUCTION"] and config["SECRET_KEY"] in ("", DEV_SECRET_KEY):
        raise ConfigError(
            "KWTSMS_ENV=production needs a SECRET_KEY of your own "
            "(for example: python -c 'import secrets; print(secrets.token_hex(32))')."
        )
