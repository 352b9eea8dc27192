from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, IntegerField, PasswordField, StringField, TelField
from wtforms.validators import DataRequired, Email, InputRequired, Length, NumberRange, Optional

_required = DataRequired(message=_l("This field is required."))
_points = [InputRequired(message=_l("Enter a whole number of points above zero.")),
           NumberRange(min=1, max=100_000_000, message=_l("Enter a whole number of points above zero."))]


class CustomerForm(FlaskForm):
    company = StringField(_l("Company name"), validators=[_required, Length(max=100)])
    contact_name = StringField(_l("Contact name"), validators=[_required, Length(max=100)])
    mobile = TelField(_l("Mobile number"), validators=[_required, Length(max=40)],
                      description=_l("With the country code, for example 96598765432."))
    email = EmailField(_l("Email"), validators=[
        _required, Length(max=254), Email(message=_l("Enter a valid email address, like name@example.com."))])
    password = PasswordField(_l("Password"), validators=[_required],
                             description=_l("At least 10 characters. Give it to your customer; they can change it."))


class TransferForm(FlaskForm):
    points = IntegerField(_l("Points to give"), validators=_points)
    reason = StringField(_l("Note (optional)"), validators=[Length(max=300)])


class TakeBackForm(FlaskForm):
    points = IntegerField(_l("Points to take back"), validators=_points)
    reason = StringField(_l("Note (optional)"), validators=[Length(max=300)])


class BlockForm(FlaskForm):
    reason = StringField(_l("Reason shown to the customer"),
                         validators=[DataRequired(message=_l("This field is required.")), Length(max=500)])


class UnblockForm(FlaskForm):
    pass


class ListingForm(FlaskForm):
    listed_publicly = BooleanField(_l("List me on the public Authorized resellers page"))
    public_phone = TelField(_l("Phone for customers"), validators=[Optional(), Length(max=30)])
    public_email = EmailField(_l("Email for customers"), validators=[
        Optional(), Length(max=254), Email(message=_l("Enter a valid email address, like name@example.com."))])
    public_website = StringField(_l("Website"), validators=[Optional(), Length(max=200)],
                                 description=_l("For example https://example.com."))
