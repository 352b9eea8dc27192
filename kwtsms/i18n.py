"""Language choice: English or Arabic, remembered in a cookie and on the account."""
from flask import current_app, has_request_context, request
from flask_babel import get_locale
from flask_login import current_user

LANGUAGE_COOKIE = "lang"
RTL_LANGUAGES = {"ar"}


def select_locale():
    supported = current_app.config["LANGUAGES"]
    if not has_request_context():  # command line, jobs
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    if chosen in supported:
        return chosen
    if current_user and current_user.is_authenticated and current_user.language in supported:
        return current_user.language
    return request.accept_languages.best_match(supported) or current_app.config["BABEL_DEFAULT_LOCALE"]


def current_language():
    locale = get_locale()
    return locale.language if locale is not None else "en"


def text_direction():
    return "rtl" if current_language() in RTL_LANGUAGES else "ltr"
