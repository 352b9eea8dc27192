from flask import Blueprint, current_app, render_template, request
from flask_login import current_user, login_required

from ..models import LedgerEntry
from ..pagination import paginate
from ..scoping import owned

bp = Blueprint("dashboard", __name__)


@bp.route("/dashboard")
@login_required
def index():
    recent_ledger = list(owned(LedgerEntry).order_by(LedgerEntry.id.desc()).limit(5))
    return render_template("dashboard/index.html", recent_ledger=recent_ledger)


@bp.route("/account/ledger")
@login_required
def ledger():
    query = owned(LedgerEntry).order_by(LedgerEntry.id.desc())
    page = paginate(query, current_app.config["PAGE_SIZE"])
    template = "dashboard/_ledger_rows.html" if request.headers.get("HX-Request") else "dashboard/ledger.html"
    return render_template(template, page=page, account=current_user)
