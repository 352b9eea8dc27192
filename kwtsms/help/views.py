"""Public pages: home, help, sample import files, and the language switch."""
from pathlib import Path

from flask import Blueprint, abort, current_app, make_response, redirect, request, send_from_directory, url_for
from flask import render_template
from flask_login import current_user

from ..db import db
from ..i18n import LANGUAGE_COOKIE
from ..models import Account

bp = Blueprint("help", __name__)
SAMPLES_DIR = Path(__file__).parent / "samples"
SAMPLE_FILES = ("names-and-numbers.csv", "numbers-only.csv")


@bp.route("/")
def home():
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.index"))
    return render_template("help/home.html")


@bp.route("/help")
def index():
    return render_template("help/index.html", samples=SAMPLE_FILES)


@bp.route("/help/samples/<name>")
def sample(name):
    if name not in SAMPLE_FILES:
        abort(404)
    return send_from_directory(SAMPLES_DIR, name, as_attachment=True, mimetype="text/csv")


@bp.route("/language", methods=["POST"])
def set_language():
    language = request.form.get("language", "")
    if language not in current_app.config["LANGUAGES"]:
        abort(400)
    target = request.form.get("next", "")
    if not target.startswith("/") or target.startswith("//"):
        target = url_for("help.home")
    response = make_response(redirect(target, code=303))
    response.set_cookie(LANGUAGE_COOKIE, language, max_age=365 * 86400, samesite="Lax",
                        secure=current_app.config["SESSION_COOKIE_SECURE"], httponly=True)
    if current_user.is_authenticated:
        with db.atomic():
            Account.update(language=language).where(Account.id == current_user.id).execute()
    return response
