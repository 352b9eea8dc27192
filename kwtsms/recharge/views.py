"""Recharge pages (customers and resellers), provider callbacks, and the admin's
packages, limits, providers and orders pages."""
from flask import Blueprint, abort, current_app, flash, jsonify, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..admin.views import admin_required
from ..errors import FieldErrors, apply_to_form
from ..extensions import csrf
from ..models import Account, Order, Package, PaymentCallback
from ..pagination import paginate
from ..scoping import owned_or_404
from . import service
from .forms import (CancelOrderForm, LowBalanceForm, PackageForm, ProviderForm, RechargeForm, RechargeSettingsForm,
                    RefundForm, TogglePackageForm)
from .money import format_kwd, kwd_plain
from .providers import CANCELLED, DEMO, PAID, CallbackRejected, CheckoutUrls, ProviderError, mask

bp = Blueprint("recharge", __name__)


@bp.app_template_filter("kwd")
def kwd_filter(fils):
    return format_kwd(fils)


def _external(endpoint, **values):
    """An absolute URL for providers; PUBLIC_BASE_URL wins over the request's host."""
    base = current_app.config.get("PUBLIC_BASE_URL", "")
    if base:
        return base + url_for(endpoint, **values)
    return url_for(endpoint, _external=True, **values)


def _invalid():
    """400 for a form post with errors; 200 for a boosted one, since htmx does not swap
    4xx responses and the person would not see the messages."""
    return 200 if request.headers.get("HX-Boosted") else 400


def _partial_or_page(partial, full_page, **context):
    return render_template(partial if request.headers.get("HX-Request") else full_page, **context)


# ---------------------------------------------------------------- customers: recharge

def _recharge_form(form=None):
    form = form or RechargeForm()
    packages = service.active_packages()
    settings = service.get_settings()
    providers = service.available_providers(current_app.config)
    form.choice.choices = [(str(p.id), p.name) for p in packages]
    if settings.points_per_kwd > 0:
        form.choice.choices.append(("custom", _("Another amount")))
    form.provider.choices = [(p.code, p.label) for p in providers]
    if request.method == "GET":
        form.choice.data = form.choice.data or (form.choice.choices[0][0] if form.choice.choices else None)
        form.provider.data = form.provider.data or (providers[0].code if providers else None)
    return form, packages, settings, providers


def _allow_payment_redirects(response, providers):
    """Browsers apply the page's CSP form-action to the redirect after a form post, so the
    recharge page must allow the providers' payment pages besides our own origin."""
    origins = sorted({origin for origin in (p.checkout_origin() for p in providers) if origin})
    if origins:
        from .. import CONTENT_SECURITY_POLICY
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY.replace(
            "form-action 'self'", "form-action 'self' " + " ".join(origins))
    return response


def _recharge_page(form=None, status=200):
    form, packages, settings, providers = _recharge_form(form)
    recent = list(service.orders_of(current_user).limit(5))
    response = make_response(render_template(
        "recharge/index.html", form=form, packages=packages, settings=settings, providers=providers,
        recent=recent, can_recharge=service.can_recharge_online(current_user),
        reseller=current_user.parent if current_user.parent_id else None), status)
    return _allow_payment_redirects(response, providers)


@bp.route("/recharge", methods=["GET", "POST"])
@login_required
def index():
    if request.method == "GET":
        return _recharge_page()
    form, *_rest = _recharge_form(RechargeForm())
    if not form.validate_on_submit():
        return _recharge_page(form, 400)
    try:
        order = service.create_order(
            current_user, provider_code=form.provider.data, config=current_app.config,
            package_id=form.choice.data, amount_text=form.amount.data)
    except FieldErrors as error:
        apply_to_form(form, error)
        return _recharge_page(form, 400)
    urls = CheckoutUrls(return_url=_external("recharge.order", order_id=order.id),
                        cancel_url=_external("recharge.order", order_id=order.id, left="1"),
                        callback_url=_external("recharge.callback", code=order.provider))
    try:
        target = service.begin_checkout(order, urls, current_app.config)
    except ProviderError as error:
        form.form_errors.append(str(error))
        return _recharge_page(form, 502)
    return _allow_payment_redirects(redirect(target, code=303), service.available_providers(current_app.config))


@bp.route("/recharge/orders")
@login_required
def orders():
    service.expire_stale_orders()
    page = paginate(service.orders_of(current_user), current_app.config["PAGE_SIZE"])
    return _partial_or_page("recharge/_order_rows.html", "recharge/orders.html", page=page)


@bp.route("/recharge/orders/<int:order_id>")
@login_required
def order(order_id):
    order = service.refresh(owned_or_404(Order, order_id))
    context = dict(order=order, account=Account.get_by_id(current_user.id), cancel_form=CancelOrderForm(),
                   left=request.args.get("left") == "1")
    return _partial_or_page("recharge/_order_status.html", "recharge/order.html", **context)


@bp.route("/recharge/orders/<int:order_id>/cancel", methods=["POST"])
@login_required
def cancel(order_id):
    order = service.refresh(owned_or_404(Order, order_id))
    if CancelOrderForm().validate_on_submit():
        try:
            service.cancel_order(current_user, order)
        except FieldErrors:
            flash(_("Only an unpaid order can be cancelled."), "warning")
        else:
            flash(_("The order is cancelled. Nothing was charged."), "info")
    return redirect(url_for("recharge.order", order_id=order.id), code=303)


@bp.route("/recharge/orders/<int:order_id>/receipt")
@login_required
def receipt(order_id):
    order = owned_or_404(Order, order_id)
    if order.status not in (Order.PAID, Order.REFUNDED):
        abort(404)  # only a paid order has a receipt
    return render_template("recharge/receipt.html", order=order, account=order.account)


@bp.route("/recharge/alert", methods=["GET", "POST"])
@login_required
def alert():
    form = LowBalanceForm()
    if request.method == "GET":
        form.threshold.data = current_user.low_balance_threshold
    elif form.validate_on_submit():
        try:
            account = service.set_low_balance_threshold(current_user, form.threshold.data)
        except FieldErrors as error:
            apply_to_form(form, error)
        else:
            if account.low_balance_threshold:
                flash(_("Saved. We email you when your balance falls below %(points)s points.",
                        points=account.low_balance_threshold), "success")
            else:
                flash(_("Saved. The low-balance email is turned off."), "success")
            return redirect(url_for("recharge.alert"), code=303)
    status = 400 if request.method == "POST" else 200
    return render_template("recharge/alert.html", form=form), status


# ---------------------------------------------------------------- the demo provider's fake payment page

def _demo_provider():
    provider = service.get_provider(DEMO, current_app.config)
    if provider is None or current_app.config["PRODUCTION"]:
        abort(404)
    return provider


@bp.route("/recharge/demo/<int:order_id>")
@login_required
def demo_pay(order_id):
    provider = _demo_provider()
    order = service.refresh(owned_or_404(Order, order_id))
    if order.provider != DEMO:
        abort(404)
    return render_template("recharge/demo_pay.html", order=order,
                           pay_fields=provider.demo_fields(order, PAID),
                           cancel_fields=provider.demo_fields(order, CANCELLED))


# ---------------------------------------------------------------- provider callbacks (signed, no CSRF)

@bp.route("/recharge/callback/<code>", methods=["POST"])
@csrf.exempt
def callback(code):
    provider = service.get_provider(code, current_app.config)
    if provider is None or (code == DEMO and current_app.config["PRODUCTION"]):
        abort(404)
    try:
        event = provider.parse_callback(request)
    except CallbackRejected as error:
        service.record_rejected_callback(code, str(error), request.get_data(as_text=True)[:4000])
        return jsonify(ok=False, error="rejected"), 400
    outcome, order = service.apply_payment_event(event)
    if code == DEMO:
        # The fake payment page posted from the customer's browser: take them back to the order.
        if order is None:
            abort(404)
        return redirect(url_for("recharge.order", order_id=order.id), code=303)
    return jsonify(ok=True, outcome=outcome)


# ---------------------------------------------------------------- admin: orders and refunds

@bp.route("/admin/orders")
@admin_required
def admin_orders():
    service.expire_stale_orders()
    status, q = request.args.get("status", ""), request.args.get("q", "")
    account_id = request.args.get("account", type=int)
    account = Account.get_or_none(Account.id == account_id) if account_id else None
    page = paginate(service.search_orders(status, q, account_id), current_app.config["PAGE_SIZE"])
    return _partial_or_page("recharge/_admin_order_rows.html", "recharge/admin_orders.html", page=page,
                            status=status, q=q, account=account, statuses=Order.STATUSES)


def _admin_order_page(order, refund_form=None, status=200):
    callbacks = list(PaymentCallback.select().where(PaymentCallback.order == order.id)
                     .order_by(PaymentCallback.id.desc()).limit(50))
    return render_template("recharge/admin_order.html", order=order, callbacks=callbacks,
                           refund_form=refund_form or RefundForm()), status


@bp.route("/admin/orders/<int:order_id>")
@admin_required
def admin_order(order_id):
    order = Order.get_or_none(Order.id == order_id) or abort(404)
    return _admin_order_page(service.refresh(order))


@bp.route("/admin/orders/<int:order_id>/refund", methods=["POST"])
@admin_required
def admin_refund(order_id):
    order = Order.get_or_none(Order.id == order_id) or abort(404)
    form = RefundForm()
    if form.validate_on_submit():
        try:
            service.refund_order(current_user, order, form.reason.data)
        except FieldErrors as error:
            apply_to_form(form, error)
        else:
            flash(_("The order is refunded and %(points)s points were debited.", points=order.points), "success")
            return redirect(url_for("recharge.admin_order", order_id=order.id), code=303)
    return _admin_order_page(Order.get_by_id(order.id), refund_form=form, status=_invalid())


@bp.route("/admin/payment-callbacks")
@admin_required
def admin_callbacks():
    outcome = request.args.get("outcome", "")
    query = PaymentCallback.select().order_by(PaymentCallback.id.desc())
    if outcome:
        query = query.where(PaymentCallback.outcome == outcome)
    page = paginate(query, current_app.config["PAGE_SIZE"])
    return render_template("recharge/admin_callbacks.html", page=page, outcome=outcome)


# ---------------------------------------------------------------- admin: packages and limits

def _packages_page(form=None, settings_form=None, status=200):
    settings = service.get_settings()
    if settings_form is None:
        settings_form = RechargeSettingsForm(min_amount=kwd_plain(settings.min_custom_fils),
                                             max_amount=kwd_plain(settings.max_custom_fils),
                                             points_per_kwd=settings.points_per_kwd)
    packages = list(Package.select().order_by(Package.is_active.desc(), Package.sort_order, Package.id))
    return render_template("recharge/admin_packages.html", packages=packages, form=form or PackageForm(),
                           settings_form=settings_form, settings=settings, toggle_form=TogglePackageForm()), status


@bp.route("/admin/packages", methods=["GET", "POST"])
@admin_required
def admin_packages():
    if request.method == "GET":
        return _packages_page()
    form = PackageForm()
    if form.validate_on_submit():
        try:
            service.save_package(current_user, None, name=form.name.data, points=form.points.data,
                                 price=form.price.data, sort_order=form.sort_order.data,
                                 is_active=form.is_active.data)
        except FieldErrors as error:
            apply_to_form(form, error)
        else:
            flash(_("Package added."), "success")
            return redirect(url_for("recharge.admin_packages"), code=303)
    return _packages_page(form=form, status=400)


@bp.route("/admin/packages/<int:package_id>", methods=["GET", "POST"])
@admin_required
def admin_package(package_id):
    package = Package.get_or_none(Package.id == package_id) or abort(404)
    if request.method == "GET":
        form = PackageForm(obj=package, price=kwd_plain(package.price_fils))
        return render_template("recharge/admin_package.html", package=package, form=form)
    form = PackageForm()
    if form.validate_on_submit():
        try:
            service.save_package(current_user, package, name=form.name.data, points=form.points.data,
                                 price=form.price.data, sort_order=form.sort_order.data,
                                 is_active=form.is_active.data)
        except FieldErrors as error:
            apply_to_form(form, error)
        else:
            flash(_("Package saved."), "success")
            return redirect(url_for("recharge.admin_packages"), code=303)
    return render_template("recharge/admin_package.html", package=package, form=form), 400


@bp.route("/admin/packages/<int:package_id>/toggle", methods=["POST"])
@admin_required
def admin_package_toggle(package_id):
    package = Package.get_or_none(Package.id == package_id) or abort(404)
    if TogglePackageForm().validate_on_submit():
        service.save_package(current_user, package, name=package.name, points=package.points,
                             price=kwd_plain(package.price_fils), sort_order=package.sort_order,
                             is_active=not package.is_active)
        flash(_("Package withdrawn.") if package.is_active else _("Package offered again."), "success")
    return redirect(url_for("recharge.admin_packages"), code=303)


@bp.route("/admin/recharge-limits", methods=["POST"])
@admin_required
def admin_limits():
    form = RechargeSettingsForm()
    if form.validate_on_submit():
        try:
            service.save_settings(current_user, min_amount=form.min_amount.data, max_amount=form.max_amount.data,
                                  points_per_kwd=form.points_per_kwd.data)
        except FieldErrors as error:
            apply_to_form(form, error)
        else:
            flash(_("Custom amount limits saved."), "success")
            return redirect(url_for("recharge.admin_packages"), code=303)
    return _packages_page(settings_form=form, status=400)


# ---------------------------------------------------------------- admin: payment providers

@bp.route("/admin/payment-providers")
@admin_required
def admin_providers():
    config = current_app.config
    providers = [service.get_provider(row.code, config) for row in service.provider_rows()]
    return render_template("recharge/admin_providers.html", providers=providers, mask=mask)


@bp.route("/admin/payment-providers/<code>", methods=["GET", "POST"])
@admin_required
def admin_provider(code):
    provider = service.get_provider(code, current_app.config) or abort(404)
    row = provider.row
    if request.method == "GET":
        form = ProviderForm(obj=row)
        form.secret.data = form.secret2.data = ""  # secrets are write-only
    else:
        form = ProviderForm()
    if request.method == "POST" and form.validate_on_submit():
        try:
            service.save_provider(current_user, row, current_app.config, label=form.label.data,
                                  is_enabled=form.is_enabled.data, gateway_url=form.gateway_url.data,
                                  merchant_id=form.merchant_id.data, secret=form.secret.data,
                                  secret2=form.secret2.data, clear_secrets=form.clear_secrets.data)
        except FieldErrors as error:
            apply_to_form(form, error)
        else:
            flash(_("Payment method saved."), "success")
            return redirect(url_for("recharge.admin_providers"), code=303)
    form.secret.label.text = _("Secret API key") if code == "stripe" else _("Shared secret (HMAC-SHA256)")
    status = 400 if request.method == "POST" else 200
    return render_template("recharge/admin_provider.html", provider=provider, form=form, mask=mask,
                           callback_url=_external("recharge.callback", code=code)), status
