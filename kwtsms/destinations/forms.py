from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class CountryForm(FlaskForm):
    prefix = StringField(_l("Prefix"), filters=[_strip],
                         validators=[DataRequired(message=_l("This field is required.")), Length(max=12)],
                         description=_l("The country calling code, for example 966. Longer prefixes price part "
                                        "of a code apart; the longest match wins."))
    name = StringField(_l("Country"), filters=[_strip],
                       validators=[DataRequired(message=_l("This field is required.")), Length(max=100)])
    points_per_page = IntegerField(_l("Points per page"), default=1, validators=[
        InputRequired(message=_l("Enter a whole number of points, for example 2.")), NumberRange(min=1, max=1000)])
    active_by_default = BooleanField(_l("Active for new accounts"),
                                     description=_l("Changing it does not change existing accounts."))


class ActionForm(FlaskForm):
    """A button that changes something (CSRF only)."""
