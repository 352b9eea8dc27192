from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, RadioField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from ..models import BlockedName, SenderId
from .service import CATEGORY_LABELS, KIND_LABELS


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def _kind_field():
    return RadioField(_l("Type"), default=SenderId.TRANSACTIONAL,
                      choices=[SelectChoice(kind, KIND_LABELS[kind]) for kind in (SenderId.TRANSACTIONAL, SenderId.PROMOTIONAL)],
                      validators=[DataRequired(message=_l("Choose promotional or transactional."))])


class SenderRequestForm(FlaskForm):
    # Length is checked by the service, which says how long it is.
    name = StringField(_l("Sender ID"), filters=[_strip],
                       description=_l("At most 11 characters: English letters and digits; - . & or a space "
                                      "inside. Capital and small letters matter. Or your own confirmed mobile number."))
    kind = _kind_field()
    purpose = StringField(_l("What will you send with it? (optional)"), filters=[_strip],
                          validators=[Optional(), Length(max=300)])


class SenderCheckForm(FlaskForm):
    """Inline check of the name field as the customer types."""
    name = StringField(_l("Sender ID"), filters=[_strip])


class MobileCodeForm(FlaskForm):
    code = StringField(_l("Code from the SMS"), filters=[_strip],
                       validators=[DataRequired(message=_l("Enter the 6-digit code.")), Length(max=20)])


class SendCodeForm(FlaskForm):
    pass


class ActionForm(FlaskForm):
    """A button that changes something (CSRF only)."""


class ApproveForm(FlaskForm):
    override = BooleanField(_l("Approve although it matches a blocked name"))
    override_reason = StringField(_l("Why this account may use it"), filters=[_strip],
                                  validators=[Optional(), Length(max=500)])


class ReasonForm(FlaskForm):
    reason = StringField(_l("Reason shown to the customer"), filters=[_strip],
                         validators=[DataRequired(message=_l("This field is required.")), Length(max=500)])


class GrantForm(FlaskForm):
    email = EmailField(_l("Account email"), filters=[_strip],
                       validators=[DataRequired(message=_l("This field is required.")), Length(max=254)])
    name = StringField(_l("Sender ID"), filters=[_strip])
    kind = _kind_field()
    override = BooleanField(_l("Approve although it matches a blocked name"))
    override_reason = StringField(_l("Why this account may use it"), filters=[_strip],
                                  validators=[Optional(), Length(max=500)])


class BlockedNameForm(FlaskForm):
    name = StringField(_l("Name"), filters=[_strip],
                       validators=[DataRequired(message=_l("This field is required.")), Length(max=40)])
    category = SelectField(_l("Belongs to"), default=BlockedName.BRAND,
                           choices=[SelectChoice(c, CATEGORY_LABELS[c]) for c in BlockedName.CATEGORIES])
