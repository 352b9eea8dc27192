from functools import wraps

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..errors import FieldErrors, apply_to_form
from ..models import Account, AuditLog, LedgerEntry
from ..pagination import paginate
from . import service
from .forms import AdjustCreditForm, BlockForm, UnblockForm

bp = Blueprint("admin", __name__, url_prefix="/admin")


def admin_required(view):
    @wraps(view)
    @login_required
    def wrapper(*args, **kwargs):
        if not current_user.is_admin:
            abort(404)  # the admin area does not exist for other roles
        return view(*args, **kwargs)
    return wrapper


@bp.route("/")
@admin_required
def index():
    """The operator's start page: every admin area, one click away (also without JavaScript)."""
    return render_template("admin/index.html")


@bp.route("/accounts")
@admin_required
def accounts():
    query = request.args.get("q", "")
    role = request.args.get("role", "")
    page = paginate(service.search_accounts(query, role), current_app.config["PAGE_SIZE"])
    template = "admin/_account_rows.html" if request.headers.get("HX-Request") else "admin/accounts.html"
    return render_template(template, page=page, q=query, role=role, roles=Account.ROLES)


def _account_page(account, block_form=None, adjust_form=None, status=200):
    ledger = list(LedgerEntry.select().where(LedgerEntry.account == account.id)
                  .order_by(LedgerEntry.id.desc()).limit(20))
    audit = list(AuditLog.select().where(AuditLog.account == account.id).order_by(AuditLog.id.desc()).limit(20))
    return render_template("admin/account.html", account=account, ledger=ledger, audit=audit,
                           block_form=block_form or BlockForm(), unblock_form=UnblockForm(),
                           adjust_form=adjust_form or AdjustCreditForm()), status


def _get_account(account_id):
    return Account.get_or_none(Account.id == account_id) or abort(404)


@bp.route("/accounts/<int:account_id>")
@admin_required
def account(account_id):
    return _account_page(_get_account(account_id))


@bp.route("/accounts/<int:account_id>/block", methods=["POST"])
@admin_required
def block(account_id):
    account = _get_account(account_id)
    form = BlockForm()
    if form.validate_on_submit():
        try:
            service.block_account(current_user, account, form.reason.data)
        except FieldErrors as error:
            apply_to_form(form, error)
        else:
            flash(_("The account is blocked."), "success")
            return redirect(url_for("admin.account", account_id=account.id), code=303)
    return _account_page(account, block_form=form, status=400)


@bp.route("/accounts/<int:account_id>/unblock", methods=["POST"])
@admin_required
def unblock(account_id):
    account = _get_account(account_id)
    if UnblockForm().validate_on_submit():
        service.unblock_account(current_user, account)
        flash(_("The account is unblocked."), "success")
    return redirect(url_for("admin.account", account_id=account.id), code=303)


@bp.route("/accounts/<int:account_id>/credit", methods=["POST"])
@admin_required
def adjust_credit(account_id):
    account = _get_account(account_id)
    form = AdjustCreditForm()
    if form.validate_on_submit():
        try:
            entry = service.adjust_credit(current_user, account, form.points.data, form.reason.data)
        except FieldErrors as error:
            apply_to_form(form, error)
        else:
            flash(_("Credit adjusted. New balance: %(balance)s points.", balance=entry.balance_after), "success")
            return redirect(url_for("admin.account", account_id=account.id), code=303)
    return _account_page(account, adjust_form=form, status=400)
