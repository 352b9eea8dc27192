"""A reseller's customers pages, the reseller's public listing, and the public resellers page."""
from functools import wraps

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..errors import FieldErrors, apply_to_form
from ..models import LedgerEntry
from ..pagination import paginate
from . import service
from .forms import BlockForm, CustomerForm, ListingForm, TakeBackForm, TransferForm, UnblockForm

bp = Blueprint("resellers", __name__)


def reseller_required(view):
    @wraps(view)
    @login_required
    def wrapper(*args, **kwargs):
        if not service.is_reseller(current_user):
            abort(404)  # the reseller area does not exist for other roles
        return view(*args, **kwargs)
    return wrapper


def _invalid():
    """400 for a form post with errors; 200 for a boosted one, since htmx does not swap
    4xx responses and the person would not see the messages."""
    return 200 if request.headers.get("HX-Boosted") else 400


def _customer_or_404(customer_id):
    return service.customer_of(current_user, customer_id) or abort(404)


@bp.route("/resellers")
def public():
    page = paginate(service.public_resellers(), current_app.config["PAGE_SIZE"])
    return render_template("resellers/public.html", page=page)


@bp.route("/reseller/customers")
@reseller_required
def customers():
    q = request.args.get("q", "")
    page = paginate(service.customers_of(current_user, q), current_app.config["PAGE_SIZE"])
    usage = service.usage([c.id for c in page.items])
    template = "resellers/_customer_rows.html" if request.headers.get("HX-Request") else "resellers/customers.html"
    return render_template(template, page=page, usage=usage, q=q, usage_days=service.USAGE_DAYS)


@bp.route("/reseller/customers/new", methods=["GET", "POST"])
@reseller_required
def new_customer():
    form = CustomerForm()
    if form.validate_on_submit():
        try:
            customer = service.create_customer(current_user, email=form.email.data, password=form.password.data,
                                               company=form.company.data, contact_name=form.contact_name.data,
                                               mobile=form.mobile.data)
        except FieldErrors as error:
            apply_to_form(form, error)
        else:
            flash(_("Customer account created. Give them their email and password to log in."), "success")
            return redirect(url_for("resellers.customer", customer_id=customer.id), code=303)
    status = 400 if request.method == "POST" else 200
    return render_template("resellers/customer_new.html", form=form), status


def _customer_page(customer, status=200, **forms):
    rows = list(LedgerEntry.select().where(LedgerEntry.account == customer.id)
                .order_by(LedgerEntry.id.desc()).limit(20))
    forms.setdefault("transfer_form", TransferForm(prefix="give"))
    forms.setdefault("take_back_form", TakeBackForm(prefix="take"))
    forms.setdefault("block_form", BlockForm())
    forms.setdefault("unblock_form", UnblockForm())
    return render_template("resellers/customer.html", customer=customer, rows=rows,
                           used=service.usage([customer.id]).get(customer.id, 0),
                           usage_days=service.USAGE_DAYS, **forms), status


@bp.route("/reseller/customers/<int:customer_id>")
@reseller_required
def customer(customer_id):
    return _customer_page(_customer_or_404(customer_id))


@bp.route("/reseller/customers/<int:customer_id>/transfer", methods=["POST"])
@reseller_required
def transfer(customer_id):
    customer = _customer_or_404(customer_id)
    form = TransferForm(prefix="give")
    if form.validate_on_submit():
        try:
            service.transfer_to_customer(current_user, customer.id, form.points.data, form.reason.data)
        except FieldErrors as error:
            apply_to_form(form, error)
        else:
            flash(_("%(points)s points moved to %(name)s.", points=form.points.data, name=customer.display_name),
                  "success")
            return redirect(url_for("resellers.customer", customer_id=customer.id), code=303)
    return _customer_page(customer, status=400, transfer_form=form)


@bp.route("/reseller/customers/<int:customer_id>/take-back", methods=["POST"])
@reseller_required
def take_back(customer_id):
    customer = _customer_or_404(customer_id)
    form = TakeBackForm(prefix="take")
    if form.validate_on_submit():
        try:
            service.take_back(current_user, customer.id, form.points.data, form.reason.data)
        except FieldErrors as error:
            apply_to_form(form, error)
        else:
            flash(_("%(points)s points taken back from %(name)s.", points=form.points.data,
                    name=customer.display_name), "success")
            return redirect(url_for("resellers.customer", customer_id=customer.id), code=303)
    return _customer_page(customer, status=_invalid(), take_back_form=form)


@bp.route("/reseller/customers/<int:customer_id>/block", methods=["POST"])
@reseller_required
def block(customer_id):
    customer = _customer_or_404(customer_id)
    form = BlockForm()
    if form.validate_on_submit():
        try:
            service.block_customer(current_user, customer.id, form.reason.data)
        except FieldErrors as error:
            apply_to_form(form, error)
        else:
            flash(_("The customer is blocked."), "success")
            return redirect(url_for("resellers.customer", customer_id=customer.id), code=303)
    return _customer_page(customer, status=_invalid(), block_form=form)


@bp.route("/reseller/customers/<int:customer_id>/unblock", methods=["POST"])
@reseller_required
def unblock(customer_id):
    customer = _customer_or_404(customer_id)
    if UnblockForm().validate_on_submit():
        service.unblock_customer(current_user, customer.id)
        flash(_("The customer is unblocked."), "success")
    return redirect(url_for("resellers.customer", customer_id=customer.id), code=303)


@bp.route("/reseller/listing", methods=["GET", "POST"])
@reseller_required
def listing():
    form = ListingForm(obj=current_user) if request.method == "GET" else ListingForm()
    if request.method == "POST" and form.validate_on_submit():
        try:
            service.update_listing(current_user, listed_publicly=form.listed_publicly.data,
                                   public_phone=form.public_phone.data, public_email=form.public_email.data,
                                   public_website=form.public_website.data)
        except FieldErrors as error:
            apply_to_form(form, error)
        else:
            flash(_("Your listing is saved."), "success")
            return redirect(url_for("resellers.listing"), code=303)
    status = 400 if request.method == "POST" else 200
    return render_template("resellers/listing.html", form=form), status
