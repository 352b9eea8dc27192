"""The customer's sender IDs: the list, a request, and confirming the mobile number."""
from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..errors import FieldErrors, apply_to_form
from ..models import SenderId
from ..pagination import paginate
from ..scoping import owned, owned_or_404
from . import service
from .forms import MobileCodeForm, SendCodeForm, SenderCheckForm, SenderRequestForm

bp = Blueprint("senders", __name__, url_prefix="/senders")


@bp.app_template_global()
def account_sender_ids(account):
    """The dashboard's card: the account's approved sender IDs (KWT-SMS is shown apart)."""
    return service.approved_sender_ids(account)


@bp.context_processor
def labels():
    return {"kind_labels": service.KIND_LABELS, "kind_help": service.KIND_HELP,
            "status_labels": service.STATUS_LABELS, "shared_sender": service.SHARED_SENDER,
            "category_labels": service.CATEGORY_LABELS}


def _is_htmx():
    return bool(request.headers.get("HX-Request"))


def _list_page():
    query = owned(SenderId).order_by(SenderId.id.desc())
    return paginate(query, current_app.config["PAGE_SIZE"])


@bp.route("/")
@login_required
def index():
    template = "senders/_list.html" if _is_htmx() else "senders/index.html"
    return render_template(template, page=_list_page(),
                           mobile_verified=service.mobile_is_verified(current_user))


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new():
    form = SenderRequestForm()
    if request.method == "GET" and request.args.get("name"):
        form.name.data = request.args["name"][:20]
    if form.validate_on_submit():
        try:
            sender = service.request_sender(current_user, form.name.data, form.kind.data, form.purpose.data)
        except FieldErrors as error:
            apply_to_form(form, error)
        else:
            if sender.status == SenderId.APPROVED:
                flash(_("Your mobile number %(name)s is ready to use as a sender ID.", name=sender.name), "success")
            else:
                flash(_("Sender ID %(name)s requested. We will review it, usually within one working day.",
                        name=sender.name), "success")
            return redirect(url_for("senders.index"), code=303)
    status = 400 if request.method == "POST" else 200
    return render_template("senders/new.html", form=form,
                           mobile_verified=service.mobile_is_verified(current_user)), status


@bp.route("/check", methods=["POST"])
@login_required
def check():
    """Validation as you type: the name field again, with its error or a go-ahead."""
    form = SenderCheckForm()
    checked = False
    if form.name.data:
        try:
            service.validate_sender_name(current_user, form.name.data)
            if SenderId.select().where(SenderId.account == current_user.id, SenderId.name == form.name.data,
                                       SenderId.status != SenderId.REJECTED).exists():
                raise FieldErrors.single("name", _("You already have the sender ID %(name)s.", name=form.name.data))
        except FieldErrors as error:
            apply_to_form(form, error)
        else:
            checked = True
    return render_template("senders/_name_feedback.html", form=form, checked=checked)


@bp.route("/<int:sender_id>/delete", methods=["POST"])
@login_required
def delete(sender_id):
    sender = owned_or_404(SenderId, sender_id)
    try:
        service.withdraw_sender(current_user, sender)
    except FieldErrors as error:
        flash(str(next(iter(error.errors.values()))), "danger")
    else:
        if _is_htmx():
            return ""  # the row disappears
        flash(_("Sender ID %(name)s deleted.", name=sender.name), "success")
    return redirect(url_for("senders.index"), code=303)


def _mobile_page(code_form=None, send_form=None, status=200):
    account = current_user
    return render_template("senders/mobile.html", verified=service.mobile_is_verified(account),
                           code_form=code_form or MobileCodeForm(formdata=None),
                           send_form=send_form or SendCodeForm(), minutes=service.CODE_MINUTES), status


@bp.route("/mobile")
@login_required
def mobile():
    return _mobile_page()


@bp.route("/mobile/code", methods=["POST"])
@login_required
def send_code():
    form = SendCodeForm()
    if form.validate_on_submit():
        try:
            service.start_mobile_verification(current_user)
        except FieldErrors as error:
            flash(str(next(iter(error.errors.values()))), "warning")
        else:
            flash(_("We sent a code by SMS to %(number)s. It works for %(minutes)d minutes.",
                    number=current_user.mobile, minutes=service.CODE_MINUTES), "success")
    return redirect(url_for("senders.mobile"), code=303)


@bp.route("/mobile", methods=["POST"])
@login_required
def verify_mobile():
    form = MobileCodeForm()
    if form.validate_on_submit():
        try:
            service.verify_mobile(current_user, form.code.data)
        except FieldErrors as error:
            apply_to_form(form, error)
        else:
            flash(_("Your mobile number is confirmed. You can now request it as a sender ID."), "success")
            return redirect(url_for("senders.new", name=current_user.mobile), code=303)
    return _mobile_page(code_form=form, status=400)
