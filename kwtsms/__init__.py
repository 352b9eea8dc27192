"""The kwtsms portal: `create_app()` builds the Flask application."""
import logging

from flask import Flask, render_template
from flask.sessions import SecureCookieSessionInterface
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from werkzeug.middleware.proxy_fix import ProxyFix

from . import config as config_module
from . import db as db_module
from . import ratelimit
from .extensions import babel, csrf, login_manager
from .i18n import current_language, select_locale, text_direction
from .models import Account

# Only our own origin: no CDN, no inline script or style (htmx is configured
# in base.html not to inject its indicator styles).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'self'; object-src 'none'"
)


def create_app(test_config=None):
    app = Flask(__name__, template_folder="../templates", static_folder="../static")
    app.jinja_env.add_extension("jinja2.ext.do")
    app.config.update(config_module.from_environment())
    if test_config:
        app.config.update(test_config)
    config_module.check_production_safety(app.config)
    # Flask refuses bigger requests outright (413); the import form checks the exact limit.
    app.config.setdefault("MAX_CONTENT_LENGTH", (app.config["MAX_UPLOAD_MB"] + 1) * 1024 * 1024)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    hops = int(app.config.get("PROXY_FIX_HOPS") or 0)
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)

    db_module.init_app(app)
    _init_extensions(app)
    _register_blueprints(app)
    _register_error_pages(app)
    _register_headers(app)
    _register_template_helpers(app)

    from .cli import register_commands
    register_commands(app)
    return app


def _init_extensions(app):
    app.session_interface = _SessionInterface()
    for setting in ("LOGIN_RATE_LIMIT", "API_RATE_LIMIT"):  # a typo fails at start, not on the first request
        try:
            ratelimit.parse(app.config[setting])
        except ValueError as error:
            raise RuntimeError(f"{setting}: {error}") from None
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale, timezone_selector=lambda: "Asia/Kuwait")

    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("Please log in to open this page.")
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"

    @login_manager.user_loader
    def load_account(session_id):
        # The id carries the session version: changing the password logs out
        # every other session and remember-me cookie.
        try:
            account_id, version = (int(part) for part in session_id.split(":"))
        except ValueError:
            return None
        account = Account.get_or_none(Account.id == account_id)
        if account is None or account.session_version != version or account.is_blocked:
            return None
        return account


def _register_blueprints(app):
    from .admin.views import bp as admin_bp
    from .auth.views import bp as auth_bp
    from .dashboard.views import bp as dashboard_bp
    from .groups.views import bp as groups_bp
    from .help.views import bp as help_bp
    from .imports.views import bp as imports_bp
    from .messages.views import bp as messages_bp
    from .senders.views import bp as senders_bp
    from .senders.admin_views import bp as senders_admin_bp
    from .destinations.views import bp as destinations_bp
    from .destinations.admin_views import bp as destinations_admin_bp
    from .recharge.views import bp as recharge_bp
    from .resellers.views import bp as resellers_bp

    for bp in (auth_bp, dashboard_bp, help_bp, admin_bp, groups_bp, imports_bp,
               senders_bp, senders_admin_bp, destinations_bp, destinations_admin_bp):
        app.register_blueprint(bp)
    for bp in (recharge_bp, resellers_bp, messages_bp):
        app.register_blueprint(bp)
    # The developer API (/API/..., JSON errors from its own handlers) and its settings pages.
    from .api.settings_views import bp as api_settings_bp
    from .api.views import bp as api_bp
    for bp in (api_bp, api_settings_bp):
        app.register_blueprint(bp)
    # Support: tickets and complaints (/support/...) and the operator's inbox (/admin/support/...).
    from .support.views import bp as support_bp
    app.register_blueprint(support_bp)
    # The dispatch engine's admin pages (/admin/dispatch, /admin/routes).
    from .dispatch.views import bp as dispatch_bp
    app.register_blueprint(dispatch_bp)


def _register_error_pages(app):
    def page(code, title, message):
        def handler(error):
            return render_template("error.html", code=code, title=title, message=message), code
        return handler

    app.register_error_handler(403, page(403, _l("Not allowed"), _l("Your account cannot open this page.")))
    app.register_error_handler(404, page(404, _l("Not found"), _l("This page does not exist, or it belongs to another account.")))
    app.register_error_handler(405, page(405, _l("Not allowed"), _l("This address does not accept that kind of request.")))
    app.register_error_handler(413, lambda error: (render_template(
        "error.html", code=413, title=_l("File too large"),
        message=_l("The file is larger than %(mb)d MB. Split it into smaller files and upload them one by one.",
                   mb=app.config["MAX_UPLOAD_MB"])), 413))
    app.register_error_handler(429, page(429, _l("Too many attempts"), _l("Too many attempts from your network. Wait a minute, then try again.")))
    app.register_error_handler(500, page(500, _l("Something went wrong"), _l("The error was logged. Try again in a moment.")))
    from flask_wtf.csrf import CSRFError
    app.register_error_handler(CSRFError, page(400, _l("Form expired"), _l("The form was open too long or came from another site. Go back, reload the page and submit it again.")))


class _SessionInterface(SecureCookieSessionInterface):
    """No session for the developer API: a call authenticates by its credentials, and
    reading and re-signing the session cookie would cost every call for nothing."""

    def open_session(self, app, request):
        if request.path.startswith("/API/"):
            return self.make_null_session(app)
        return super().open_session(app, request)


def _register_headers(app):
    @app.after_request
    def security_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        if app.config["PRODUCTION"]:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        if response.mimetype == "application/json":
            return response  # the page policies below mean nothing to an API client (and cost every call)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        # Full page or htmx fragment is chosen by this header; caches must know.
        response.vary.add("HX-Request")
        return response


def _register_template_helpers(app):
    from .formatting import register_filters
    register_filters(app)

    # Lets a template link to an area only when it is installed.
    app.jinja_env.globals["has_endpoint"] = lambda endpoint: endpoint in app.view_functions

    @app.context_processor
    def layout_context():
        return {"text_direction": text_direction(), "language": current_language(), "current_user": current_user}
