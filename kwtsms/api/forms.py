from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from ..models import ContentRule


class UsernameForm(FlaskForm):
    username = StringField(_l("API username"), validators=[
        DataRequired(message=_l("Choose an API username.")), Length(max=64)],
        description=_l("Letters, digits and . _ @ -; not your login email unless you want it to be."))


class ActionForm(FlaskForm):
    """A button: CSRF only."""


class EnabledForm(FlaskForm):
    enabled = HiddenField()


class WhitelistForm(FlaskForm):
    ip_whitelist = TextAreaField(_l("Allowed IP addresses"), validators=[Optional(), Length(max=5000)],
                                 description=_l("One address or CIDR range a line, for example 203.0.113.7 or "
                                                "203.0.113.0/24. Leave empty to accept calls from anywhere."))


class WebhookForm(FlaskForm):
    webhook_url = StringField(_l("Webhook URL"), validators=[Optional(), Length(max=500)],
                              description=_l("Delivery reports are POSTed here as JSON. Leave empty to turn "
                                             "the webhook off."))


class GrantForm(FlaskForm):
    granted = HiddenField()


class ContentRuleForm(FlaskForm):
    kind = SelectField(_l("List"), choices=[SelectChoice(ContentRule.BAD_LANGUAGE, _l("Bad language")),
                                            SelectChoice(ContentRule.SPAM, _l("Spam"))])
    phrase = StringField(_l("Word or phrase"), validators=[
        DataRequired(message=_l("Enter a word or phrase.")), Length(max=100)])
