from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, PasswordField, RadioField, StringField, URLField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

_required = DataRequired(message=_l("This field is required."))


class RechargeForm(FlaskForm):
    """Choices are filled by the view: active packages plus "custom", and the available providers."""
    choice = RadioField(_l("What to buy"), validate_choice=False,
                        validators=[InputRequired(message=_l("Choose a package or another amount."))])
    amount = StringField(_l("Another amount (KWD)"), validators=[Length(max=20)],
                         description=_l("For example 25 or 12.500."))
    provider = RadioField(_l("Pay with"), validate_choice=False,
                          validators=[InputRequired(message=_l("Choose a payment method."))])


class CancelOrderForm(FlaskForm):
    pass


class LowBalanceForm(FlaskForm):
    threshold = IntegerField(_l("Email me when my balance falls below (points)"), validators=[
        InputRequired(message=_l("Enter a whole number of points, 0 or more.")),
        NumberRange(min=0, max=100_000_000, message=_l("Enter a whole number of points, 0 or more."))],
        description=_l("0 turns the alert off. You get one email each time the balance falls below it."))


class PackageForm(FlaskForm):
    name = StringField(_l("Name"), validators=[_required, Length(max=100)])
    points = IntegerField(_l("Points"), validators=[
        InputRequired(message=_l("Enter a whole number of points above zero.")),
        NumberRange(min=1, max=100_000_000, message=_l("Enter a whole number of points above zero."))])
    price = StringField(_l("Price (KWD)"), validators=[_required, Length(max=20)],
                        description=_l("Up to 3 decimals, for example 45.000."))
    sort_order = IntegerField(_l("Position in the list"), default=0, validators=[Optional(), NumberRange(min=0, max=1000)])
    is_active = BooleanField(_l("Offered on the recharge page"), default=True)


class TogglePackageForm(FlaskForm):
    pass


class RechargeSettingsForm(FlaskForm):
    min_amount = StringField(_l("Least custom amount (KWD)"), validators=[_required, Length(max=20)])
    max_amount = StringField(_l("Most custom amount (KWD)"), validators=[_required, Length(max=20)])
    points_per_kwd = IntegerField(_l("Points per KWD for custom amounts"), validators=[
        InputRequired(message=_l("Enter a whole number from 0 to 1,000,000.")),
        NumberRange(min=0, max=1_000_000, message=_l("Enter a whole number from 0 to 1,000,000."))],
        description=_l("0 turns custom amounts off: customers then choose a package."))


class ProviderForm(FlaskForm):
    label = StringField(_l("Name shown to customers"), validators=[_required, Length(max=100)])
    is_enabled = BooleanField(_l("Offer this payment method"))
    gateway_url = URLField(_l("Payment page address"), validators=[Optional(), Length(max=300)])
    merchant_id = StringField(_l("Merchant ID"), validators=[Optional(), Length(max=100)])
    secret = PasswordField(_l("Secret"), validators=[Optional(), Length(max=300)],
                           description=_l("Leave empty to keep the current one."))
    secret2 = PasswordField(_l("Webhook signing secret"), validators=[Optional(), Length(max=300)],
                            description=_l("Leave empty to keep the current one."))
    clear_secrets = BooleanField(_l("Forget the stored secrets (use the server's environment instead)"))


class RefundForm(FlaskForm):
    reason = StringField(_l("Reason"), validators=[
        DataRequired(message=_l("Say why the order is refunded.")), Length(max=500)])
