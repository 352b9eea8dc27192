"""Support pages: the customer's tickets (/support/...) and the operator's inbox (/admin/support/...)."""
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from peewee import DatabaseError

from ..admin.views import admin_required
from ..errors import FieldErrors, apply_to_form
from ..models import Message, Recipient, Ticket
from ..pagination import paginate
from ..scoping import owned_or_404
from . import service
from .forms import ActionForm, AssignForm, ComplaintForm, RefundForm, ReplyForm, TicketForm

bp = Blueprint("support", __name__)


@bp.context_processor
def labels():
    return {"kind_labels": service.KIND_LABELS, "ticket_status_labels": service.STATUS_LABELS,
            "age_labels": service.AGE_LABELS, "ticket_title": service.ticket_title,
            "max_attachment_mb": current_app.config["ATTACHMENT_MAX_MB"],
            "attachments_per_post": service.ATTACHMENTS_PER_POST}


@bp.app_context_processor
def unread_badge():
    def support_unread():
        """Tickets with news for the logged-in account (the navigation's badge)."""
        if not current_user.is_authenticated:
            return 0
        try:
            return service.unread_count(current_user)
        except DatabaseError:  # an error page must still render
            current_app.logger.exception("support unread count failed")
            return 0
    return {"support_unread": support_unread}


def _is_htmx():
    return bool(request.headers.get("HX-Request"))


def _uploads(form):
    return [(f.filename, f.stream) for f in (form.attachments.data or []) if getattr(f, "filename", "")]


def _error_status():
    return 200 if _is_htmx() else 400  # htmx swaps only 2xx answers


# --- the customer's side ------------------------------------------------------------------

@bp.route("/support/")
@login_required
def index():
    status = request.args.get("status", "")
    page = paginate(service.tickets_of(current_user, status), current_app.config["PAGE_SIZE"])
    unread = service.unread_ids(current_user, [t.id for t in page.items])
    template = "support/_ticket_rows.html" if _is_htmx() else "support/index.html"
    return render_template(template, page=page, status=status, unread=unread, statuses=Ticket.STATUSES)


@bp.route("/support/new", methods=["GET", "POST"])
@login_required
def new_ticket():
    form = TicketForm()
    if request.method == "GET" and request.args.get("kind") in Ticket.GENERAL_KINDS:
        form.kind.data = request.args["kind"]
    if form.validate_on_submit():
        try:
            ticket = service.open_ticket(current_user, form.kind.data, form.subject.data, form.body.data,
                                         files=_uploads(form))
        except FieldErrors as error:
            apply_to_form(form, error)
        else:
            flash(_("Your ticket is open. Support will answer here and by email."), "success")
            return redirect(url_for("support.ticket", ticket_id=ticket.id), code=303)
    return render_template("support/new.html", form=form), (400 if request.method == "POST" else 200)


@bp.route("/support/complaint/<int:message_id>", methods=["GET", "POST"])
@login_required
def complaint(message_id):
    message = owned_or_404(Message, message_id)
    recipient_id = request.args.get("recipient", type=int)
    candidates = service.complaint_candidates(message, recipient_id)
    if recipient_id is not None and not candidates:
        abort(404)
    eligibility = service.complaint_eligibility(message)
    form = ComplaintForm()
    if request.method == "GET":
        form.recipients.data = [r.id for r in candidates]
    elif form.validate_on_submit():
        try:
            ticket = service.open_complaint(current_user, message, form.recipients.data, form.description.data,
                                            files=_uploads(form))
        except FieldErrors as error:
            apply_to_form(form, error)
        else:
            flash(_("Your report is sent. Support will answer here and by email."), "success")
            return redirect(url_for("support.ticket", ticket_id=ticket.id), code=303)
    if request.method == "POST":  # show what was posted again, with the chosen ones still checked
        chosen = set(form.recipients.data or [])
        extra = [r for r in Recipient.select().where(Recipient.message == message.id,
                                                     Recipient.id.in_(list(chosen)))] if chosen else []
        known = {r.id for r in candidates}
        candidates += [r for r in extra if r.id not in known]
    facts = service.complaint_facts(current_user, message)
    more = 0
    if recipient_id is None:
        more = max(0, Recipient.select().where(Recipient.message == message.id,
                                               Recipient.status != Recipient.DELIVERED).count() - len(candidates))
    return render_template("support/complaint.html", form=form, message=message, facts=facts,
                           candidates=candidates, eligibility=eligibility, more=more,
                           recipient_id=recipient_id), (400 if request.method == "POST" else 200)


def _own_ticket(ticket_id):
    return owned_or_404(Ticket, ticket_id)


def _ticket_page(ticket, form=None, status=200):
    service.mark_read(current_user, ticket)
    posts = service.thread(ticket)
    if _is_htmx() and request.headers.get("HX-Target") == "thread":
        return render_template("support/_thread.html", ticket=ticket, posts=posts)
    numbers = service.complaint_numbers(ticket) if ticket.is_complaint else []
    return render_template("support/ticket.html", ticket=ticket, posts=posts, numbers=numbers,
                           form=form or ReplyForm(formdata=None), action_form=ActionForm()), status


@bp.route("/support/<int:ticket_id>")
@login_required
def ticket(ticket_id):
    return _ticket_page(_own_ticket(ticket_id))


def _reply(ticket, page, done):
    form = ReplyForm()
    if form.validate_on_submit():
        try:
            service.post_reply(current_user, ticket, form.body.data, files=_uploads(form))
        except FieldErrors as error:
            apply_to_form(form, error)
        else:
            flash(done, "success")
            return redirect(url_for(page, ticket_id=ticket.id), code=303)
    return form


@bp.route("/support/<int:ticket_id>/reply", methods=["POST"])
@login_required
def reply(ticket_id):
    ticket = _own_ticket(ticket_id)
    result = _reply(ticket, "support.ticket", _("Your reply is sent."))
    if not isinstance(result, ReplyForm):
        return result
    return _ticket_page(Ticket.get_by_id(ticket.id), form=result, status=_error_status())


@bp.route("/support/<int:ticket_id>/close", methods=["POST"])
@login_required
def close(ticket_id):
    ticket = _own_ticket(ticket_id)
    if ActionForm().validate_on_submit() and service.close_ticket(current_user, ticket):
        flash(_("The ticket is closed. Reply to it to open it again."), "success")
    return redirect(url_for("support.ticket", ticket_id=ticket.id), code=303)


@bp.route("/support/attachments/<int:attachment_id>")
@login_required
def attachment(attachment_id):
    try:
        attachment = service.attachment_for(current_user, attachment_id)
    except service.NotAParty:
        abort(404)
    path = service.attachment_path(attachment)
    if not path.is_file():
        abort(404)
    response = send_file(path, mimetype=attachment.content_type, download_name=attachment.filename,
                         as_attachment=attachment.content_type == "application/pdf", max_age=0)
    response.headers["Cache-Control"] = "private, no-store"
    # Served as what its bytes are, never run: no script, no plugin, no framing.
    response.headers["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; sandbox"
    return response


# --- the support team's side --------------------------------------------------------------

@bp.route("/admin/support/")
@admin_required
def admin_inbox():
    args = request.args
    filters = {"status": args.get("status", "active"), "kind": args.get("kind", ""), "age": args.get("age", ""),
               "assignee": args.get("assignee", ""), "query": args.get("q", "")}
    page = paginate(service.inbox(current_user, **filters), current_app.config["PAGE_SIZE"])
    unread = service.unread_ids(current_user, [t.id for t in page.items])
    template = "support/_inbox_rows.html" if _is_htmx() else "support/admin_inbox.html"
    return render_template(template, page=page, filters=filters, unread=unread, statuses=Ticket.STATUSES,
                           kinds=Ticket.KINDS)


def _any_ticket(ticket_id):
    return Ticket.get_or_none(Ticket.id == ticket_id) or abort(404)


def _admin_page(ticket, form=None, refund_form=None, assign_form=None, status=200):
    service.mark_read(current_user, ticket)
    posts = service.thread(ticket)
    if _is_htmx() and request.headers.get("HX-Target") == "thread":
        return render_template("support/_thread.html", ticket=ticket, posts=posts)
    trail = []
    numbers = []
    if ticket.is_complaint:
        numbers = service.complaint_numbers(ticket)
        message = Message.get_or_none(Message.id == ticket.message_id) if ticket.message_id else None
        if message is not None:
            trail = service.dispatch_trail(message, [n.recipient_id for n, _r in numbers if n.recipient_id])
    if assign_form is None:
        assign_form = AssignForm(formdata=None, assignee=ticket.assignee_id)
    assign_form.assignee.choices = [("", _("Nobody"))] + [(str(a.id), a.contact_name or a.email)
                                                           for a in service.support_staff()]
    return render_template("support/admin_ticket.html", ticket=ticket, posts=posts, numbers=numbers, trail=trail,
                           refundable=service.REFUNDABLE, form=form or ReplyForm(formdata=None),
                           refund_form=refund_form or RefundForm(formdata=None), assign_form=assign_form,
                           action_form=ActionForm()), status


@bp.route("/admin/support/<int:ticket_id>")
@admin_required
def admin_ticket(ticket_id):
    return _admin_page(_any_ticket(ticket_id))


@bp.route("/admin/support/<int:ticket_id>/reply", methods=["POST"])
@admin_required
def admin_reply(ticket_id):
    ticket = _any_ticket(ticket_id)
    result = _reply(ticket, "support.admin_ticket", _("Your reply is sent to the customer."))
    if not isinstance(result, ReplyForm):
        return result
    return _admin_page(Ticket.get_by_id(ticket.id), form=result, status=_error_status())


@bp.route("/admin/support/<int:ticket_id>/assign", methods=["POST"])
@admin_required
def admin_assign(ticket_id):
    ticket = _any_ticket(ticket_id)
    form = AssignForm()
    if form.validate_on_submit():
        try:
            assignee = service.assign_ticket(current_user, ticket, form.assignee.data)
        except FieldErrors as error:
            apply_to_form(form, error)
        else:
            flash(_("Assigned to %(name)s.", name=assignee.contact_name or assignee.email) if assignee
                  else _("Nobody is assigned now."), "success")
            return redirect(url_for("support.admin_ticket", ticket_id=ticket.id), code=303)
    return _admin_page(ticket, assign_form=form, status=_error_status())


@bp.route("/admin/support/<int:ticket_id>/close", methods=["POST"])
@admin_required
def admin_close(ticket_id):
    ticket = _any_ticket(ticket_id)
    if ActionForm().validate_on_submit() and service.close_ticket(current_user, ticket):
        flash(_("The ticket is closed."), "success")
    return redirect(url_for("support.admin_ticket", ticket_id=ticket.id), code=303)


@bp.route("/admin/support/<int:ticket_id>/refund", methods=["POST"])
@admin_required
def admin_refund(ticket_id):
    ticket = _any_ticket(ticket_id)
    form = RefundForm()
    if form.validate_on_submit():
        try:
            result = service.refund_complaint(current_user, ticket, form.recipients.data)
        except FieldErrors as error:
            apply_to_form(form, error)
        else:
            if result.refunded:
                flash(_("%(count)d numbers refunded: %(points)d points are back in the customer's balance.",
                        count=len(result.refunded), points=result.points), "success")
            if result.already:
                flash(_("%(count)d of the chosen numbers were already refunded.", count=result.already), "info")
            if result.in_progress:
                flash(_("%(count)d of the chosen numbers are still being delivered; refund them once they "
                        "reach a final state.", count=result.in_progress), "warning")
            return redirect(url_for("support.admin_ticket", ticket_id=ticket.id), code=303)
    return _admin_page(ticket, refund_form=form, status=_error_status())
