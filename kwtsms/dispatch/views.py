"""Admin pages of the dispatch engine: /admin/dispatch (what is moving, binds, rates,
last errors; an htmx partial refreshes it) and /admin/routes (providers and routes)."""
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from wtforms import SelectChoice

from ..admin.views import admin_required
from ..errors import FieldErrors, apply_to_form
from ..models import DispatchProvider, DispatchRoute
from ..recharge.providers import mask
from . import monitor, service
from .forms import DeleteRouteForm, ProviderForm, RouteForm

bp = Blueprint("dispatch", __name__, url_prefix="/admin")


@bp.route("/dispatch")
@admin_required
def monitor_page():
    providers = list(DispatchProvider.select().order_by(DispatchProvider.name))
    context = {
        "overview": service.overview(),
        "providers": providers,
        "rates": monitor.rates([p.id for p in providers]),
        "binds": monitor.binds(),
        "events": service.recent_events(30),
        "names": {p.id: p.name for p in providers},
    }
    if request.headers.get("HX-Request"):
        return render_template("dispatch/_monitor.html", **context)
    return render_template("dispatch/monitor.html", **context)


def _route_form():
    form = RouteForm()
    form.provider.choices = [SelectChoice(p.id, p.name) for p in DispatchProvider.select().order_by(DispatchProvider.name)]
    return form


def _routes_page(route_form=None, status=200):
    routes = list(DispatchRoute.select(DispatchRoute, DispatchProvider).join(DispatchProvider)
                  .order_by(DispatchRoute.prefix))
    providers = list(DispatchProvider.select().order_by(DispatchProvider.name))
    return render_template("dispatch/routes.html", routes=routes, providers=providers,
                           route_form=route_form or _route_form(), delete_form=DeleteRouteForm(), mask=mask), status


@bp.route("/routes")
@admin_required
def routes():
    return _routes_page()


@bp.route("/routes", methods=["POST"])
@admin_required
def add_route():
    form = _route_form()
    if form.validate_on_submit():
        try:
            service.save_route(current_user, form.prefix.data, form.provider.data, form.note.data)
        except FieldErrors as error:
            apply_to_form(form, error)
        else:
            flash(_("Route saved."), "success")
            return redirect(url_for("dispatch.routes"), code=303)
    return _routes_page(route_form=form, status=400)


@bp.route("/routes/<int:route_id>/delete", methods=["POST"])
@admin_required
def delete_route(route_id):
    if DeleteRouteForm().validate_on_submit():
        if not service.delete_route(current_user, route_id):
            abort(404)
        flash(_("Route removed."), "success")
    return redirect(url_for("dispatch.routes"), code=303)


@bp.route("/routes/providers/new", methods=["GET", "POST"])
@bp.route("/routes/providers/<int:provider_id>", methods=["GET", "POST"])
@admin_required
def provider(provider_id=None):
    row = None
    if provider_id is not None:
        row = DispatchProvider.get_or_none(DispatchProvider.id == provider_id) or abort(404)
    if request.method == "GET":
        form = ProviderForm(obj=row)
        form.secret.data = ""  # write-only
    else:
        form = ProviderForm()
    if request.method == "POST" and form.validate_on_submit():
        fields = {name: getattr(form, name).data for name in service.PROVIDER_FIELDS}
        for name, default in (("port", 2775), ("window", 10), ("mps", 0), ("enquire_link", 30), ("sink_delay", 2),
                              ("sink_failure_percent", 0)):
            if fields[name] is None:
                fields[name] = default
        try:
            row = service.save_provider(current_user, row, secret=form.secret.data or "",
                                        clear_secret=form.clear_secret.data, **fields)
        except FieldErrors as error:
            apply_to_form(form, error)
        else:
            flash(_("Provider saved."), "success")
            return redirect(url_for("dispatch.routes"), code=303)
    status = 400 if request.method == "POST" else 200
    return render_template("dispatch/provider.html", form=form, row=row, mask=mask,
                           secret_env=row.secret_env() if row else None), status
