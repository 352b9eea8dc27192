import datetime

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from .. import smstext
from ..csvdownload import csv_response
from ..destinations.service import coverage_for
from ..groups.service import groups_of
from ..models import Message, OptOut, Recipient
from ..pagination import paginate
from ..scoping import owned, owned_or_404
from ..senders.service import senders_for
from . import service
from .forms import KUWAIT, ComposeForm, OptOutForm

bp = Blueprint("messages", __name__, url_prefix="/messages")


def _compose_form():
    form = ComposeForm()
    form.set_choices(senders_for(current_user), groups_of(current_user))
    return form


@bp.route("/new", methods=["GET", "POST"])
@login_required
def compose():
    form = _compose_form()
    if request.method == "GET" and request.args.get("group", type=int):
        form.groups.data = [request.args.get("group", type=int)]
    action = request.form.get("action", "review")
    if request.method == "POST" and action == "edit":
        return render_template("messages/compose.html", form=form)
    if request.method == "POST" and form.validate_on_submit():
        arguments = {"sender": form.sender.data, "text": form.message.data or "", "numbers": form.numbers.data or "",
                     "group_ids": form.groups.data or []}
        try:
            if action == "review":
                info, audience, quote = service.prepare(current_user, **arguments)
                return render_template("messages/confirm.html", form=form, info=info, audience=audience,
                                       quote=quote, balance=current_user.balance)
            if action in ("send", "schedule", "test"):
                schedule = form.schedule_utc() if action == "schedule" else None
                if action == "schedule" and schedule is None:
                    form.schedule_at.errors = list(form.schedule_at.errors) + [_("Choose the date and time to send.")]
                    raise _Redisplay()
                result = service.send_message(current_user, schedule_at=schedule, test=action == "test", **arguments)
                flash(_message_flash(result, action), "success")
                return redirect(url_for("messages.show", message_id=result.message.id), code=303)
        except service.SendRefused as refused:
            target = getattr(form, refused.field, None)
            if target is not None and hasattr(target, "errors"):
                target.errors = list(target.errors) + [refused.message]
            else:
                form.form_errors.append(refused.message)
            if refused.code in ("ERR010", "ERR011"):
                return render_template("messages/compose.html", form=form, missing=refused.details.get("missing")), 400
        except _Redisplay:
            pass
        return render_template("messages/compose.html", form=form), 400
    return render_template("messages/compose.html", form=form), (400 if form.errors else 200)


class _Redisplay(Exception):
    """Show the composer again with the errors already set on the form."""


def _message_flash(result, action):
    if action == "test":
        return _("Test recorded: %(count)s numbers, %(points)s points would be charged. Nothing was sent.",
                 count=result.quote.count, points=result.quote.points)
    if action == "schedule":
        return _("Scheduled: %(count)s numbers, %(points)s points charged. You can cancel it until it is sent.",
                 count=result.quote.count, points=result.quote.points)
    return _("Sending to %(count)s numbers; %(points)s points charged.", count=result.quote.count,
             points=result.quote.points)


@bp.route("/counter", methods=["POST"])
@login_required
def counter():
    """The composer's live counter: characters, encoding, pages, recipients and cost."""
    info = smstext.analyze(request.form.get("message", ""))
    coverage = coverage_for(current_user)
    typed = service.collect_audience(current_user, request.form.get("numbers", ""), ())
    recipients = points = 0
    unknown = 0
    for number in typed.numbers:
        per_page = coverage.points_per_page(number)
        if per_page is None:
            unknown += 1
        else:
            recipients += 1
            points += per_page * info.pages
    for prefix, count in service.group_country_mix(request.form.getlist("groups"), current_user).items():
        per_page = coverage.points_per_page(prefix + "0" * 9)
        if per_page is None:
            unknown += count
        else:
            recipients += count
            points += per_page * info.pages * count
    return render_template("messages/_counter.html", info=info, recipients=recipients, points=points,
                           invalid=len(typed.invalid), not_covered=unknown, balance=current_user.balance,
                           personalised="{name}" in info.text, max_pages=smstext.MAX_PAGES)


@bp.route("/")
@login_required
def history():
    args = request.args
    date_from = _date(args.get("from"))
    date_to = _date(args.get("to"))
    query = service.history(current_user, query=args.get("q", ""), sender=args.get("sender", ""),
                            status=args.get("status", ""), date_from=date_from,
                            date_to=date_to + datetime.timedelta(days=1) if date_to else None)
    page = paginate(query, current_app.config["PAGE_SIZE"])
    template = "messages/_history_rows.html" if request.headers.get("HX-Request") else "messages/history.html"
    return render_template(template, page=page, senders=service.senders_used(current_user), args=args,
                           statuses=[Message.SCHEDULED, Message.QUEUED, Message.SENDING, Message.DONE,
                                     Message.CANCELLED, Message.TEST])


def _date(text):
    """A Kuwait calendar date from the filter as the naive UTC start of that day."""
    try:
        day = datetime.date.fromisoformat(text or "")
    except ValueError:
        return None
    start = datetime.datetime.combine(day, datetime.time(), tzinfo=KUWAIT)
    return start.astimezone(datetime.UTC).replace(tzinfo=None)


@bp.route("/queue")
@login_required
def queue_page():
    messages = list(owned(Message).where(Message.status.in_(Message.OPEN)).order_by(Message.id.desc()).limit(200))
    counts = {m.id: service.status_counts(m) for m in messages}
    return render_template("messages/queue.html", messages=messages, counts=counts)


def _recipients(message):
    recipients = Recipient.select().where(Recipient.message == message.id)
    status = request.args.get("status", "")
    if status:
        recipients = recipients.where(Recipient.status == status)
    number = request.args.get("number", "").strip()
    if number:
        recipients = recipients.where(Recipient.mobile.contains("".join(ch for ch in number if ch.isdigit())))
    return recipients.order_by(Recipient.id)


@bp.route("/<int:message_id>")
@login_required
def show(message_id):
    message = owned_or_404(Message, message_id)
    counts = service.status_counts(message)
    if request.headers.get("HX-Request") and request.headers.get("HX-Target") == "message-progress":
        return render_template("messages/_progress.html", message=message, counts=counts)
    page = paginate(_recipients(message), current_app.config["PAGE_SIZE"])
    return render_template("messages/show.html", message=message, counts=counts, page=page, args=request.args,
                           statuses=sorted(counts))


@bp.route("/<int:message_id>/recipients.csv")
@login_required
def recipients_csv(message_id):
    message = owned_or_404(Message, message_id)
    columns = (Recipient.mobile, Recipient.name, Recipient.status, Recipient.error, Recipient.pages,
               Recipient.points, Recipient.updated_at)
    query = _recipients(message).select(*columns).tuples()

    def rows():  # runs the query only when the download starts streaming
        yield from query.iterator()

    return csv_response(f"message-{message.msg_id}.csv",
                        ["mobile", "name", "status", "error", "pages", "points", "updated_at_utc"], rows())


@bp.route("/<int:message_id>/cancel", methods=["POST"])
@login_required
def cancel(message_id):
    message = owned_or_404(Message, message_id)
    try:
        points = service.cancel_message(current_user, message)
    except service.SendRefused as refused:
        flash(str(refused.message), "warning")
    else:
        flash(_("Cancelled. %(points)s points for the unsent messages are back in your balance.", points=points),
              "success")
    return redirect(url_for("messages.show", message_id=message.id), code=303)


@bp.route("/opt-outs", methods=["GET", "POST"])
@login_required
def opt_outs():
    form = OptOutForm()
    if form.validate_on_submit():
        added, already, invalid = service.add_opt_outs(current_user, form.numbers.data or "")
        flash(_("%(added)s numbers added to your opt-out list; %(already)s were already on it.",
                added=added, already=already), "success")
        for raw, reason in invalid[:20]:
            flash(_("%(number)s was not added: %(reason)s", number=raw, reason=reason), "warning")
        return redirect(url_for("messages.opt_outs"), code=303)
    query = owned(OptOut).order_by(OptOut.id.desc())
    search = request.args.get("q", "").strip()
    if search:
        query = query.where(OptOut.mobile.contains("".join(ch for ch in search if ch.isdigit())))
    page = paginate(query, current_app.config["PAGE_SIZE"])
    return render_template("messages/opt_outs.html", form=form, page=page, q=search)


@bp.route("/opt-outs/<int:opt_out_id>/delete", methods=["POST"])
@login_required
def delete_opt_out(opt_out_id):
    entry = owned_or_404(OptOut, opt_out_id)
    service.remove_opt_out(current_user, entry.id)
    if request.headers.get("HX-Request"):
        return ""
    flash(_("%(number)s can receive your messages again.", number=entry.mobile), "success")
    return redirect(url_for("messages.opt_outs"), code=303)
