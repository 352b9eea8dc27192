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
    }


class ConfigError(RuntimeError):
    """The configuration is unsafe or incomplete; the app must not start."""


def check_production_safety(config):
    if config["PRODUCTION"] and config["SECRET_KEY"] in ("", DEV_SECRET_KEY):
        raise ConfigError(
            "KWTSMS_ENV=production needs a SECRET_KEY of your own "
            "(for example: python -c 'import secrets; print(secrets.token_hex(32))')."
        )
