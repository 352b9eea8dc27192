from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, StringField, TelField
from wtforms.validators import DataRequired, Email, EqualTo, Length

_required = DataRequired(message=_l("This field is required."))


def _email_field():
    return EmailField(_l("Email"), validators=[
        _required, Length(max=254), Email(message=_l("Enter a valid email address, like name@example.com."))])


class SignupForm(FlaskForm):
    company = StringField(_l("Company name"), validators=[_required, Length(max=100)])
    contact_name = StringField(_l("Contact name"), validators=[_required, Length(max=100)])
    mobile = TelField(_l("Mobile number"), validators=[_required, Length(max=40)],
                      description=_l("With the country code, for example 96598765432."))
    email = _email_field()
    password = PasswordField(_l("Password"), validators=[_required],
                             description=_l("At least 10 characters. This is your portal password, not your API password."))
    confirm = PasswordField(_l("Repeat the password"), validators=[
        _required, EqualTo("password", message=_l("The two passwords are not the same."))])


class LoginForm(FlaskForm):
    email = _email_field()
    password = PasswordField(_l("Password"), validators=[_required])
    remember = BooleanField(_l("Remember me on this device"))


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField(_l("Current password"), validators=[_required])
    new_password = PasswordField(_l("New password"), validators=[_required])
    confirm = PasswordField(_l("Repeat the new password"), validators=[
        _required, EqualTo("new_password", message=_l("The two passwords are not the same."))])


class ForgotPasswordForm(FlaskForm):
    email = _email_field()


class ResetPasswordForm(FlaskForm):
    new_password = PasswordField(_l("New password"), validators=[_required])
    confirm = PasswordField(_l("Repeat the new password"), validators=[
        _required, EqualTo("new_password", message=_l("The two passwords are not the same."))])
