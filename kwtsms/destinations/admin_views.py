"""The operator's countries: prices, defaults, per-account activation and requests."""
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ..admin.views import admin_required
from ..errors import FieldErrors, apply_to_form
from ..models import Account, Country, CountryRequest
from ..pagination import paginate
from . import service
from .forms import ActionForm, CountryForm
from .views import helpers

bp = Blueprint("destinations_admin", __name__, url_prefix="/admin")
bp.context_processor(helpers)


def _is_htmx():
    return bool(request.headers.get("HX-Request"))


def _country_or_404(country_id):
    return Country.get_or_none(Country.id == country_id) or abort(404)


def _countries_page(form=None, status=200):
    page = paginate(service.price_list(request.args.get("q", "")), current_app.config["PAGE_SIZE"])
    return render_template("destinations/admin_countries.html", page=page, q=request.args.get("q", ""),
                           form=form or CountryForm(formdata=None), requests=list(service.pending_requests()),
                           action_form=ActionForm()), status


@bp.route("/countries")
@admin_required
def countries():
    return _countries_page()


@bp.route("/countries", methods=["POST"])
@admin_required
def create_country():
    form = CountryForm()
    if form.validate_on_submit():
        try:
            country = service.create_country(current_user, prefix=form.prefix.data, name=form.name.data,
                                             points_per_page=form.points_per_page.data,
                                             active_by_default=form.active_by_default.data)
        except FieldErrors as error:
            apply_to_form(form, error)
        else:
            flash(_("%(country)s added.", country=country.name), "success")
            return redirect(url_for("destinations_admin.countries"), code=303)
    return _countries_page(form, status=400)


@bp.route("/countries/<int:country_id>", methods=["GET", "POST"])
@admin_required
def edit_country(country_id):
    country = _country_or_404(country_id)
    form = CountryForm(obj=country)
    if form.validate_on_submit():
        try:
            service.update_country(current_user, country, prefix=form.prefix.data, name=form.name.data,
                                   points_per_page=form.points_per_page.data,
                                   active_by_default=form.active_by_default.data)
        except FieldErrors as error:
            apply_to_form(form, error)
        else:
            flash(_("%(country)s saved.", country=form.name.data), "success")
            return redirect(url_for("destinations_admin.countries"), code=303)
    status = 400 if request.method == "POST" else 200
    return render_template("destinations/admin_country.html", country=country, form=form,
                           action_form=ActionForm()), status


@bp.route("/countries/<int:country_id>/delete", methods=["POST"])
@admin_required
def delete_country(country_id):
    country = _country_or_404(country_id)
    if ActionForm().validate_on_submit():
        try:
            service.delete_country(current_user, country)
        except FieldErrors as error:
            flash(str(next(iter(error.errors.values()))), "danger")
            return redirect(url_for("destinations_admin.edit_country", country_id=country.id), code=303)
        flash(_("%(country)s removed.", country=country.name), "success")
    return redirect(url_for("destinations_admin.countries"), code=303)


@bp.route("/country-requests/<int:request_id>/decline", methods=["POST"])
@admin_required
def decline_request(request_id):
    country_request = CountryRequest.get_or_none(CountryRequest.id == request_id) or abort(404)
    if ActionForm().validate_on_submit():
        service.decline_country_request(current_user, country_request)
        flash(_("Request declined."), "info")
    if request.form.get("next") == "account":
        return redirect(url_for("destinations_admin.account_countries", account_id=country_request.account_id),
                        code=303)
    return redirect(url_for("destinations_admin.countries"), code=303)


def _account_or_404(account_id):
    return Account.get_or_none(Account.id == account_id) or abort(404)


@bp.route("/accounts/<int:account_id>/countries")
@admin_required
def account_countries(account_id):
    account = _account_or_404(account_id)
    return render_template("destinations/account_countries.html", account=account,
                           countries=list(service.price_list()), states=service.account_states(account))


@bp.route("/accounts/<int:account_id>/countries/<int:country_id>", methods=["POST"])
@admin_required
def set_account_country(account_id, country_id):
    account = _account_or_404(account_id)
    country = _country_or_404(country_id)
    active = request.form.get("active") == "1"
    if ActionForm().validate_on_submit():
        service.set_account_country(current_user, account, country, active)
    if _is_htmx():
        return render_template("destinations/_account_country_row.html", account=account, country=country,
                               states=service.account_states(account))
    flash(_("%(country)s is active for this account.", country=country.name) if active else
          _("%(country)s is off for this account.", country=country.name), "success")
    return redirect(url_for("destinations_admin.account_countries", account_id=account.id), code=303)
