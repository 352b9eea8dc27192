"""Public prices, and a customer asking for a country."""
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..errors import FieldErrors
from ..models import Country
from . import service

bp = Blueprint("destinations", __name__)


@bp.context_processor
def helpers():
    return {"country_label": service.country_label}


def _is_htmx():
    return bool(request.headers.get("HX-Request"))


def _states():
    return service.account_states(current_user) if current_user.is_authenticated else {}


@bp.route("/prices")
def prices():
    query = request.args.get("q", "")
    countries = list(service.price_list(query))
    template = "destinations/_price_rows.html" if _is_htmx() else "destinations/prices.html"
    return render_template(template, countries=countries, q=query, states=_states())


@bp.route("/prices/<int:country_id>/request", methods=["POST"])
@login_required
def request_country(country_id):
    country = Country.get_or_none(Country.id == country_id) or abort(404)
    error = None
    try:
        service.request_country(current_user, country)
    except FieldErrors as problem:
        error = next(iter(problem.errors.values()))
    if _is_htmx():
        return render_template("destinations/_price_row.html", country=country, states=_states(), error=error)
    if error:
        flash(str(error), "warning")
    else:
        flash(_("We received your request for %(country)s and will answer soon.",
                country=service.country_label(country)), "success")
    return redirect(url_for("destinations.prices"), code=303)
