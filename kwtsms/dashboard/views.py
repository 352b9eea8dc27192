from flask import Blueprint, current_app, render_template, request
from flask_login import current_user, login_required

from ..groups.service import groups_of
from ..models import LedgerEntry, Message
from ..pagination import paginate
from ..scoping import owned

bp = Blueprint("dashboard", __name__)


@bp.route("/dashboard")
@login_required
def index():
    recent_ledger = list(owned(LedgerEntry).order_by(LedgerEntry.id.desc()).limit(5))
    groups = list(groups_of(current_user).limit(5))
    messages = list(owned(Message).order_by(Message.id.desc()).limit(5))
    return render_template("dashboard/index.html", recent_ledger=recent_ledger, groups=groups, messages=messages)


@bp.route("/account/ledger")
@login_required
def ledger():
    query = owned(LedgerEntry).order_by(LedgerEntry.id.desc())
    page = paginate(query, current_app.config["PAGE_SIZE"])
    template = "dashboard/_ledger_rows.html" if request.headers.get("HX-Request") else "dashboard/ledger.html"
    return render_template(template, page=page, account=current_user)
