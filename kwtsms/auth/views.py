from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from .. import ratelimit
from ..errors import FieldErrors, apply_to_form
from ..mail import send_mail
from . import service
from .forms import ChangePasswordForm, ForgotPasswordForm, LoginForm, ResetPasswordForm, SignupForm

bp = Blueprint("auth", __name__)


def _safe_next(default):
    """Only follow `next` to a path on this site (no open redirect)."""
    target = request.args.get("next", "")
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return default


@bp.route("/signup", methods=["GET", "POST"])
def signup():
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.index"))
    form = SignupForm()
    if form.validate_on_submit():
        try:
            account = service.create_account(
                email=form.email.data, password=form.password.data, company=form.company.data,
                contact_name=form.contact_name.data, mobile=form.mobile.data)
        except FieldErrors as error:
            apply_to_form(form, error)
        else:
            login_user(account)
            flash(_("Welcome! Your account is ready."), "success")
            return redirect(url_for("dashboard.index"))
    return render_template("auth/signup.html", form=form)


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.index"))
    if request.method == "POST" and ratelimit.exhausted("login", "LOGIN_RATE_LIMIT"):
        abort(429)
    form = LoginForm()
    if form.validate_on_submit():
        try:
            account = service.authenticate(form.email.data, form.password.data)
        except service.LoginRefused:
            form.form_errors.append(_("Wrong email or password."))
        except service.AccountBlocked as blocked:
            reason = blocked.reason or _("no reason was given")
            form.form_errors.append(_("This account is blocked (%(reason)s). Contact support to have it unblocked.", reason=reason))
        else:
            login_user(account, remember=form.remember.data)
            return redirect(_safe_next(url_for("dashboard.index")))
    if request.method == "POST":
        ratelimit.hit("login", "LOGIN_RATE_LIMIT")  # only failed attempts count: a success redirected
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=["POST"])
def logout():
    logout_user()
    flash(_("You are logged out."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password():
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            account = service.change_password(current_user._get_current_object(),
                                              form.current_password.data, form.new_password.data)
        except FieldErrors as error:
            apply_to_form(form, error)
        else:
            # The session version changed: log this session in again under it.
            login_user(account)
            flash(_("Your portal password is changed. Other devices are logged out."), "success")
            return redirect(url_for("dashboard.index"))
    return render_template("auth/change_password.html", form=form)


@bp.route("/password/forgot", methods=["GET", "POST"])
def forgot_password():
    if request.method == "POST" and not ratelimit.hit("password-reset", "LOGIN_RATE_LIMIT"):
        abort(429)
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        max_age = current_app.config["PASSWORD_RESET_MAX_AGE"]
        account, token = service.issue_reset_token(form.email.data, max_age)
        if account is not None:
            link = url_for("auth.reset_password", token=token, _external=True)
            send_mail(account.email, _("Reset your kwtsms portal password"), render_template(
                "auth/reset_email.txt", account=account, link=link, minutes=max_age // 60))
        # Same answer whether or not the email exists: no account probing.
        return render_template("auth/forgot_sent.html", email=form.email.data)
    return render_template("auth/forgot.html", form=form)


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
def reset_password(token):
    try:
        service.reset_token_account(token)
    except service.InvalidResetLink:
        return render_template("auth/reset_invalid.html"), 400
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            service.reset_password(token, form.new_password.data)
        except FieldErrors as error:
            apply_to_form(form, error)
        except service.InvalidResetLink:
            return render_template("auth/reset_invalid.html"), 400
        else:
            logout_user()
            flash(_("Your password is changed. Log in with the new one."), "success")
            return redirect(url_for("auth.login"))
    return render_template("auth/reset.html", form=form)
