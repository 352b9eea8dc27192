from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from wtforms import SelectChoice

from ..csvdownload import csv_response
from ..errors import FieldErrors, apply_to_form
from ..models import Contact, Group
from ..pagination import paginate
from ..scoping import owned, owned_or_404
from . import service
from .forms import BulkForm, ContactForm, GroupForm

bp = Blueprint("groups", __name__, url_prefix="/groups")


def _is_htmx():
    return bool(request.headers.get("HX-Request"))


def _contact_or_404(group, contact_id):
    contact = Contact.get_or_none(Contact.id == contact_id, Contact.group == group.id)
    return contact or abort(404)


@bp.route("/")
@login_required
def index():
    page = paginate(owned(Group).order_by(Group.name), current_app.config["PAGE_SIZE"])
    return render_template("groups/index.html", page=page, form=GroupForm())


@bp.route("/", methods=["POST"])
@login_required
def create():
    form = GroupForm()
    if form.validate_on_submit():
        try:
            group = service.create_group(current_user, form.name.data)
        except FieldErrors as error:
            apply_to_form(form, error)
        else:
            flash(_("Group \"%(name)s\" created. Add numbers to it below.", name=group.name), "success")
            return redirect(url_for("groups.show", group_id=group.id), code=303)
    page = paginate(owned(Group).order_by(Group.name), current_app.config["PAGE_SIZE"])
    return render_template("groups/index.html", page=page, form=form), 400


def _contacts_context(group, contact_form=None):
    query = request.args.get("q", "").strip()
    page = service.contacts_page(group, query, after=request.args.get("after", type=int),
                                 before=request.args.get("before", type=int),
                                 per_page=current_app.config["PAGE_SIZE"])
    bulk = BulkForm()
    bulk.target.choices = [SelectChoice(g.id, g.name) for g in service.groups_of(current_user) if g.id != group.id]
    return {"group": group, "page": page, "q": query, "contact_form": contact_form or ContactForm(),
            "bulk_form": bulk, "rename_form": GroupForm(obj=group)}


@bp.route("/<int:group_id>")
@login_required
def show(group_id):
    group = owned_or_404(Group, group_id)
    context = _contacts_context(group)
    if _is_htmx() and request.headers.get("HX-Target") == "contacts":
        return render_template("groups/_contacts.html", **context)
    return render_template("groups/show.html", **context)


@bp.route("/<int:group_id>/rename", methods=["POST"])
@login_required
def rename(group_id):
    group = owned_or_404(Group, group_id)
    form = GroupForm()
    if form.validate_on_submit():
        try:
            service.rename_group(group, form.name.data)
        except FieldErrors as error:
            apply_to_form(form, error)
        else:
            flash(_("Group renamed."), "success")
            return redirect(url_for("groups.show", group_id=group.id), code=303)
    context = _contacts_context(group)
    context["rename_form"] = form
    return render_template("groups/show.html", **context), 400


@bp.route("/<int:group_id>/delete", methods=["GET", "POST"])
@login_required
def delete(group_id):
    group = owned_or_404(Group, group_id)
    if request.method == "POST":  # CSRFProtect has checked the token already
        service.delete_group(group)
        flash(_("Group \"%(name)s\" and its %(count)s numbers were deleted.", name=group.name, count=group.size),
              "success")
        return redirect(url_for("groups.index"), code=303)
    return render_template("groups/delete.html", group=group)


@bp.route("/<int:group_id>/contacts", methods=["POST"])
@login_required
def add_contact(group_id):
    group = owned_or_404(Group, group_id)
    form = ContactForm()
    added = None
    if form.validate_on_submit():
        try:
            added = service.add_contact(group, form.name.data, form.mobile.data)
        except FieldErrors as error:
            apply_to_form(form, error)
    if _is_htmx():
        group = Group.get_by_id(group.id)
        if added and group.size == 1:
            return _refresh_page(_("%(number)s added.", number=added.contact.mobile))  # the empty list becomes a table
        fresh = ContactForm(formdata=None) if added else form
        return render_template("groups/_add_result.html", group=group, form=fresh, added=added), \
            (200 if added else 422)
    if added:
        flash(_("%(number)s added.", number=added.contact.mobile), "success")
        if added.country_added:
            flash(_("The number had no country code, so Kuwait (965) was added."), "info")
        return redirect(url_for("groups.show", group_id=group.id), code=303)
    return render_template("groups/show.html", **_contacts_context(group, contact_form=form)), 400


@bp.route("/<int:group_id>/contacts/<int:contact_id>/edit", methods=["GET", "POST"])
@login_required
def edit_contact(group_id, contact_id):
    group = owned_or_404(Group, group_id)
    contact = _contact_or_404(group, contact_id)
    form = ContactForm(obj=contact, prefix=f"contact-{contact.id}")  # unique ids beside the add form
    if request.method == "POST" and form.validate_on_submit():
        try:
            service.update_contact(contact, form.name.data, form.mobile.data)
        except FieldErrors as error:
            apply_to_form(form, error)
        else:
            if _is_htmx():
                return render_template("groups/_contact_row.html", group=group, contact=contact)
            flash(_("Contact saved."), "success")
            return redirect(url_for("groups.show", group_id=group.id), code=303)
    template = "groups/_contact_edit_row.html" if _is_htmx() else "groups/edit_contact.html"
    return render_template(template, group=group, contact=contact, form=form), \
        (422 if form.errors else 200)


@bp.route("/<int:group_id>/contacts/<int:contact_id>/row")
@login_required
def contact_row(group_id, contact_id):
    group = owned_or_404(Group, group_id)
    return render_template("groups/_contact_row.html", group=group, contact=_contact_or_404(group, contact_id))


@bp.route("/<int:group_id>/contacts/<int:contact_id>/delete", methods=["POST"])
@login_required
def delete_contact(group_id, contact_id):
    group = owned_or_404(Group, group_id)
    contact = _contact_or_404(group, contact_id)
    service.delete_contacts(group, [contact.id])
    if _is_htmx():
        # The row's swap target gets nothing (the row disappears); the size updates out of band.
        return render_template("groups/_size.html", group=Group.get_by_id(group.id), oob=True)
    flash(_("%(number)s deleted.", number=contact.mobile), "success")
    return redirect(url_for("groups.show", group_id=group.id), code=303)


@bp.route("/<int:group_id>/contacts/bulk", methods=["POST"])
@login_required
def bulk(group_id):
    group = owned_or_404(Group, group_id)
    action = request.form.get("action")
    ids = [int(value) for value in request.form.getlist("ids") if value.isdigit()]
    if action not in ("delete", "move", "copy"):
        abort(400)
    if not ids:
        flash(_("Select at least one number first."), "warning")
        return redirect(url_for("groups.show", group_id=group.id), code=303)
    if action == "delete":
        count = service.delete_contacts(group, ids)
        flash(_("%(count)s numbers deleted.", count=count), "success")
    else:
        target = owned_or_404(Group, request.form.get("target", 0, type=int))
        try:
            copied, skipped = service.copy_contacts(group, ids, target, move=action == "move")
        except FieldErrors as error:
            flash(str(error.errors["target"]), "danger")
        else:
            message = _("%(count)s numbers moved to %(group)s.", count=copied, group=target.name) \
                if action == "move" else \
                _("%(count)s numbers copied to %(group)s.", count=copied, group=target.name)
            flash(message, "success")
            if skipped:
                flash(_("%(count)s numbers were already in %(group)s and were left as they are.",
                        count=skipped, group=target.name), "info")
    if _is_htmx():
        return _refresh_page()
    return redirect(url_for("groups.show", group_id=group.id), code=303)


def _refresh_page(message=None):
    """Tell htmx to reload the page (it then shows the flashed messages)."""
    if message:
        flash(message, "success")
    response = Response("")
    response.headers["HX-Refresh"] = "true"
    return response


@bp.route("/<int:group_id>/export.csv")
@login_required
def export(group_id):
    group = owned_or_404(Group, group_id)
    return csv_response(f"group-{group.id}.csv", ["name", "mobile"], service.export_rows(group))
