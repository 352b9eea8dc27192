from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange


class BlockForm(FlaskForm):
    reason = StringField(_l("Reason shown to the customer"),
                         validators=[DataRequired(message=_l("This field is required.")), Length(max=500)])


class UnblockForm(FlaskForm):
    pass


class AdjustCreditForm(FlaskForm):
    points = IntegerField(_l("Points (negative to debit)"), validators=[
        InputRequired(message=_l("Enter a whole number of points, for example 500 or -200.")),
        NumberRange(min=-10_000_000, max=10_000_000)])
    reason = StringField(_l("Reason"), validators=[
        DataRequired(message=_l("A reason is required for every credit adjustment.")), Length(max=500)])
