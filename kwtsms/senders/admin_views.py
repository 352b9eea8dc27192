"""The operator's side of sender IDs: review requests, grant, suspend, and the blocked list."""
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ..admin.views import admin_required
from ..errors import FieldErrors, apply_to_form
from ..models import Account, BlockedName, SenderId
from ..pagination import paginate
from . import service
from .forms import ActionForm, ApproveForm, BlockedNameForm, GrantForm, ReasonForm
from .views import labels

bp = Blueprint("senders_admin", __name__, url_prefix="/admin")
bp.context_processor(labels)


def _is_htmx():
    return bool(request.headers.get("HX-Request"))


def _sender_or_404(sender_id):
    return SenderId.get_or_none(SenderId.id == sender_id) or abort(404)


@bp.route("/senders")
@admin_required
def senders():
    query = request.args.get("q", "")
    status = request.args.get("status", SenderId.REQUESTED)
    page = paginate(service.search_senders(query, status), current_app.config["PAGE_SIZE"])
    template = "senders/_admin_rows.html" if _is_htmx() else "senders/admin_list.html"
    return render_template(template, page=page, q=query, status=status, statuses=SenderId.STATUSES,
                           matches=service.blocked_matches(page.items), action_form=ActionForm())


def _detail(sender, approve_form=None, reason_form=None, status=200):
    return render_template("senders/admin_detail.html", sender=sender, match=service.blocked_matches([sender]).get(sender.id),
                           approve_form=approve_form or ApproveForm(formdata=None),
                           reason_form=reason_form or ReasonForm(formdata=None), action_form=ActionForm()), \
        (200 if _is_htmx() else status)  # htmx swaps only 2xx answers: a boosted form shows its errors


@bp.route("/senders/<int:sender_id>")
@admin_required
def sender(sender_id):
    return _detail(_sender_or_404(sender_id))


@bp.route("/senders/<int:sender_id>/approve", methods=["POST"])
@admin_required
def approve(sender_id):
    sender = _sender_or_404(sender_id)
    form = ApproveForm()
    error = None
    if form.validate_on_submit():
        try:
            sender = service.approve_sender(current_user, sender, override=form.override.data,
                                            override_reason=form.override_reason.data)
        except FieldErrors as problem:
            apply_to_form(form, problem)
            error = next(iter(problem.errors.values()))
        else:
            if not _is_htmx():
                flash(_("Sender ID %(name)s approved.", name=sender.name), "success")
                return redirect(url_for("senders_admin.sender", sender_id=sender.id), code=303)
    if _is_htmx():  # the inline button on the list: its row again, updated or with the problem
        sender = SenderId.get_by_id(sender.id)
        return render_template("senders/_admin_row.html", sender=sender, error=error,
                               matches=service.blocked_matches([sender]), action_form=ActionForm())
    return _detail(SenderId.get_by_id(sender.id), approve_form=form, status=400)


def _with_reason(sender_id, action, done_message):
    sender = _sender_or_404(sender_id)
    form = ReasonForm()
    if form.validate_on_submit():
        try:
            sender = action(current_user, sender, form.reason.data)
        except FieldErrors as error:
            apply_to_form(form, error)
        else:
            flash(done_message(sender), "success")
            return redirect(url_for("senders_admin.sender", sender_id=sender.id), code=303)
    return _detail(SenderId.get_by_id(sender.id), reason_form=form, status=400)


@bp.route("/senders/<int:sender_id>/reject", methods=["POST"])
@admin_required
def reject(sender_id):
    return _with_reason(sender_id, service.reject_sender,
                        lambda s: _("Sender ID %(name)s rejected.", name=s.name))


@bp.route("/senders/<int:sender_id>/suspend", methods=["POST"])
@admin_required
def suspend(sender_id):
    return _with_reason(sender_id, service.suspend_sender,
                        lambda s: _("Sender ID %(name)s suspended.", name=s.name))


@bp.route("/senders/<int:sender_id>/reinstate", methods=["POST"])
@admin_required
def reinstate(sender_id):
    sender = _sender_or_404(sender_id)
    if ActionForm().validate_on_submit():
        try:
            service.reinstate_sender(current_user, sender)
        except FieldErrors as error:
            flash(str(next(iter(error.errors.values()))), "danger")
        else:
            flash(_("Sender ID %(name)s reinstated.", name=sender.name), "success")
    return redirect(url_for("senders_admin.sender", sender_id=sender.id), code=303)


@bp.route("/senders/new", methods=["GET", "POST"])
@admin_required
def grant():
    form = GrantForm()
    if request.method == "GET" and request.args.get("email"):
        form.email.data = request.args["email"][:254]
    if form.validate_on_submit():
        account = Account.get_or_none(Account.email == (form.email.data or "").lower())
        try:
            if account is None:
                raise FieldErrors.single("email", _("No account has this email."))
            sender = service.grant_sender(current_user, account, form.name.data, form.kind.data,
                                          override=form.override.data, override_reason=form.override_reason.data)
        except FieldErrors as error:
            apply_to_form(form, error)
        else:
            flash(_("Sender ID %(name)s added to %(account)s.", name=sender.name, account=account.display_name),
                  "success")
            return redirect(url_for("senders_admin.sender", sender_id=sender.id), code=303)
    return render_template("senders/admin_grant.html", form=form), (400 if request.method == "POST" else 200)


def _blocked_page(form=None, status=200):
    query = request.args.get("q", "").strip()
    names = BlockedName.select().order_by(BlockedName.name)
    if query:
        key = service.lookalike_key(query)
        names = names.where(BlockedName.normalized.contains(key)) if key else names
    page = paginate(names, current_app.config["PAGE_SIZE"])
    template = "senders/_blocked_rows.html" if _is_htmx() and request.method == "GET" else "senders/blocked_names.html"
    return render_template(template, page=page, q=query, form=form or BlockedNameForm(formdata=None),
                           action_form=ActionForm()), status


@bp.route("/blocked-names")
@admin_required
def blocked_names():
    return _blocked_page()


@bp.route("/blocked-names", methods=["POST"])
@admin_required
def add_blocked_name():
    form = BlockedNameForm()
    if form.validate_on_submit():
        try:
            blocked = service.add_blocked_name(current_user, form.name.data, form.category.data)
        except FieldErrors as error:
            apply_to_form(form, error)
        else:
            flash(_("%(name)s is blocked now.", name=blocked.name), "success")
            return redirect(url_for("senders_admin.blocked_names"), code=303)
    return _blocked_page(form, status=400)


@bp.route("/blocked-names/<int:blocked_id>/delete", methods=["POST"])
@admin_required
def delete_blocked_name(blocked_id):
    blocked = BlockedName.get_or_none(BlockedName.id == blocked_id) or abort(404)
    if ActionForm().validate_on_submit():
        service.remove_blocked_name(current_user, blocked)
        if _is_htmx():
            return ""
        flash(_("%(name)s is no longer blocked.", name=blocked.name), "success")
    return redirect(url_for("senders_admin.blocked_names"), code=303)
