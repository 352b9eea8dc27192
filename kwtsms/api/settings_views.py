"""The account's API page (/account/api), the operator's API access switch and word lists."""
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..admin.views import admin_required
from ..errors import FieldErrors, apply_to_form
from ..models import Account
from . import content, credentials, service, webhooks
from .forms import ActionForm, ContentRuleForm, EnabledForm, GrantForm, UsernameForm, WebhookForm, WhitelistForm

bp = Blueprint("api_settings", __name__)


@bp.app_template_global()
def api_access_granted(account):
    return credentials.access_granted(account)


def api_base_url():
    """Where this portal's API answers, as developers must write it."""
    base = current_app.config.get("PUBLIC_BASE_URL") or request.url_root.rstrip("/")
    return base + "/API/"


def _page(account=None, status=200, new_password=None, **forms):
    account = account or Account.get_by_id(current_user.id)
    defaults = {
        "username_form": UsernameForm(formdata=None, username=account.api_username or ""),
        "password_form": ActionForm(formdata=None),
        "enabled_form": EnabledForm(formdata=None),
        "whitelist_form": WhitelistForm(formdata=None, ip_whitelist=account.api_ip_whitelist),
        "webhook_form": WebhookForm(formdata=None, webhook_url=account.webhook_url),
        "secret_form": ActionForm(formdata=None),
    }
    defaults.update(forms)
    response = current_app.make_response((render_template(
        "api/settings.html", account=account, granted=credentials.access_granted(account),
        base_url=api_base_url(), new_password=new_password, error_codes=_error_codes(),
        signature_header=webhooks.SIGNATURE_HEADER, **defaults), status))
    response.headers["Cache-Control"] = "no-store"  # the page may show a password once
    return response


def _error_codes():
    return [(code, text) for code, text in service.DESCRIPTIONS.items() if code[3] == "0"]


def _done(message):
    flash(message, "success")
    return redirect(url_for("api_settings.index"), code=303)


@bp.route("/account/api")
@login_required
def index():
    return _page()


@bp.route("/account/api/username", methods=["POST"])
@login_required
def set_username():
    form = UsernameForm()
    if form.validate_on_submit():
        try:
            credentials.set_username(current_user, form.username.data)
        except FieldErrors as error:
            apply_to_form(form, error)
        else:
            return _done(_("API username saved."))
    return _page(status=400, username_form=form)


@bp.route("/account/api/password", methods=["POST"])
@login_required
def generate_password():
    form = ActionForm()
    if not form.validate_on_submit():
        return redirect(url_for("api_settings.index"), code=303)
    try:
        account, password = credentials.regenerate_password(current_user)
    except FieldErrors as error:
        username_form = UsernameForm(formdata=None)
        apply_to_form(username_form, error)
        return _page(status=400, username_form=username_form)
    return _page(account, new_password=password)


@bp.route("/account/api/enabled", methods=["POST"])
@login_required
def set_enabled():
    form = EnabledForm()
    if form.validate_on_submit():
        enabled = form.enabled.data == "1"
        try:
            credentials.set_enabled(current_user, enabled)
        except FieldErrors as error:
            flash(str(error.errors["enabled"]), "error")
            return redirect(url_for("api_settings.index"), code=303)
        return _done(_("The API is on.") if enabled else _("The API is off: calls are refused with ERR001."))
    return redirect(url_for("api_settings.index"), code=303)


@bp.route("/account/api/whitelist", methods=["POST"])
@login_required
def set_whitelist():
    form = WhitelistForm()
    if form.validate_on_submit():
        try:
            account = credentials.set_ip_whitelist(current_user, form.ip_whitelist.data)
        except FieldErrors as error:
            apply_to_form(form, error)
        else:
            return _done(_("IP lockdown saved: only these addresses may call the API.")
                         if account.api_ip_whitelist else _("IP lockdown is off: any address may call the API."))
    return _page(status=400, whitelist_form=form)


@bp.route("/account/api/webhook", methods=["POST"])
@login_required
def set_webhook():
    form = WebhookForm()
    if form.validate_on_submit():
        try:
            account = webhooks.set_webhook(current_user, form.webhook_url.data)
        except FieldErrors as error:
            apply_to_form(form, error)
        else:
            return _done(_("Webhook saved.") if account.webhook_url else _("Webhook turned off."))
    return _page(status=400, webhook_form=form)


@bp.route("/account/api/webhook/secret", methods=["POST"])
@login_required
def regenerate_secret():
    if ActionForm().validate_on_submit():
        webhooks.regenerate_secret(current_user)
        return _done(_("New webhook secret made: update your receiver."))
    return redirect(url_for("api_settings.index"), code=303)


# --- the operator -----------------------------------------------------------------------

@bp.route("/admin/accounts/<int:account_id>/api-access", methods=["POST"])
@admin_required
def admin_access(account_id):
    account = Account.get_or_none(Account.id == account_id) or abort(404)
    form = GrantForm()
    if form.validate_on_submit():
        granted = form.granted.data == "1"
        credentials.grant_access(current_user, account, granted)
        flash(_("API access granted.") if granted else _("API access taken away: calls are refused with ERR004."),
              "success")
    return redirect(url_for("admin.account", account_id=account.id), code=303)


@bp.route("/admin/content-rules", methods=["GET", "POST"])
@admin_required
def content_rules():
    form = ContentRuleForm()
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                content.add_rule(current_user, form.kind.data, form.phrase.data)
            except FieldErrors as error:
                apply_to_form(form, error)
            else:
                flash(_("Added: messages containing it are refused."), "success")
                return redirect(url_for("api_settings.content_rules"), code=303)
        status = 400
    return render_template("api/content_rules.html", form=form, rules=list(content.rules()),
                           delete_form=ActionForm(formdata=None), kind_labels=content.KIND_LABELS), status


@bp.route("/admin/content-rules/<int:rule_id>/delete", methods=["POST"])
@admin_required
def delete_content_rule(rule_id):
    if ActionForm().validate_on_submit():
        if not content.delete_rule(current_user, rule_id):
            abort(404)
        flash(_("Removed from the list."), "success")
    return redirect(url_for("api_settings.content_rules"), code=303)
