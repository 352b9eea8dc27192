from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..csvdownload import csv_response
from ..errors import FieldErrors, apply_to_form
from ..groups.service import groups_of
from ..models import ContactImport, Group
from ..pagination import paginate
from ..scoping import owned, owned_or_404
from . import reader, service
from .forms import NEW_GROUP, MappingForm, UploadForm

bp = Blueprint("imports", __name__, url_prefix="/imports")


@bp.route("/")
@login_required
def index():
    page = paginate(owned(ContactImport).order_by(ContactImport.id.desc()), current_app.config["PAGE_SIZE"])
    return render_template("imports/index.html", page=page)


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new():
    form = UploadForm()
    form.set_groups(groups_of(current_user))
    if request.method == "GET":
        form.group.data = request.args.get("group", NEW_GROUP, type=int)
    if form.validate_on_submit():
        upload = form.file.data
        try:
            contact_import = service.save_upload(
                current_user, current_app.config["UPLOAD_DIR"], upload.filename, upload.stream,
                current_app.config["MAX_UPLOAD_MB"] * 1024 * 1024)
        except FieldErrors as error:
            apply_to_form(form, error)
        else:
            if form.group.data != NEW_GROUP:
                group = owned_or_404(Group, form.group.data)
                service.choose_group(contact_import, current_user, group=group)
            elif form.new_group.data.strip():
                return redirect(url_for("imports.preview", import_id=contact_import.id,
                                        new_group=form.new_group.data.strip()), code=303)
            return redirect(url_for("imports.preview", import_id=contact_import.id), code=303)
    return render_template("imports/new.html", form=form), (400 if form.errors else 200)


@bp.route("/<int:import_id>/preview", methods=["GET", "POST"])
@login_required
def preview(import_id):
    contact_import = owned_or_404(ContactImport, import_id)
    if contact_import.status != ContactImport.PREVIEW:
        return redirect(url_for("imports.show", import_id=contact_import.id))
    form = MappingForm(obj=contact_import)
    form.set_groups(groups_of(current_user))
    if request.method == "GET":
        form.has_header.data = bool(contact_import.has_header)
        form.name_column.data = -1 if contact_import.name_column is None else contact_import.name_column
        form.group.data = contact_import.group_id or NEW_GROUP
        form.new_group.data = request.args.get("new_group", "")
    elif form.validate_on_submit():
        try:
            service.change_layout(contact_import, encoding=form.encoding.data, delimiter=form.delimiter.data,
                                  has_header=form.has_header.data, number_column=form.number_column.data,
                                  name_column=form.name_column.data)
            if request.form.get("action") == "start":
                return _start(contact_import, form)
        except FieldErrors as error:
            apply_to_form(form, error)
    layout = service.layout_of(contact_import)
    header, rows, sample = [], [], []
    try:
        header = reader.header_row(contact_import.stored_path, layout)
        rows = service.preview_rows(contact_import)
        sample = service.raw_sample(contact_import)
    except reader.UnreadableFile as error:
        form.form_errors.append(error.message)
    columns = max([len(header), layout.number_column + 1, (layout.name_column or 0) + 1] + [len(r) for r in sample])
    form.set_columns(columns, header)
    return render_template("imports/preview.html", form=form, contact_import=contact_import, rows=rows,
                           delimiters=reader.DELIMITERS), (400 if form.errors else 200)


def _start(contact_import, form):
    group = None
    if form.group.data != NEW_GROUP:
        group = owned_or_404(Group, form.group.data)
    service.choose_group(contact_import, current_user, group=group, new_group_name=form.new_group.data)
    if not service.start(contact_import):
        raise FieldErrors.single("layout", _("The background worker cannot be reached, so the import did not start. Try again in a minute."))
    return redirect(url_for("imports.show", import_id=contact_import.id), code=303)


@bp.route("/<int:import_id>")
@login_required
def show(import_id):
    contact_import = owned_or_404(ContactImport, import_id)
    context = {"contact_import": contact_import, "report": service.report(contact_import),
               "rejected": service.rejected_rows(contact_import, 100),
               "percent": service.progress_percent(contact_import)}
    if request.headers.get("HX-Request"):
        return render_template("imports/_status.html", **context)
    return render_template("imports/show.html", **context)


@bp.route("/<int:import_id>/rejected.csv")
@login_required
def rejected_csv(import_id):
    contact_import = owned_or_404(ContactImport, import_id)
    return csv_response(f"import-{contact_import.id}-rejected.csv", ["row", "value", "reason"],
                        service.rejected_rows(contact_import))
