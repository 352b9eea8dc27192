import datetime
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectChoice, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import Length, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

KUWAIT = ZoneInfo("Asia/Kuwait")


class ComposeForm(FlaskForm):
    sender = SelectField(_l("Sender ID"), validate_choice=False)
    groups = SelectMultipleField(_l("Groups"), coerce=int, validate_choice=False,
                                 widget=ListWidget(prefix_label=False), option_widget=CheckboxInput())
    numbers = TextAreaField(_l("Numbers"), validators=[Length(max=2_000_000)],
                            description=_l("Type or paste numbers with the country code, separated by commas, "
                                           "spaces or new lines."))
    message = TextAreaField(_l("Message"), validators=[Length(max=10_000)],
                            description=_l("Write {name} to put each contact's name in the message."))
    schedule_at = StringField(_l("Send at (Kuwait time)"), validators=[Optional()])

    def set_choices(self, senders, groups):
        self.sender.choices = [SelectChoice(name, name) for name in senders]
        self.groups.choices = [SelectChoice(g.id, f"{g.name} ({g.size})") for g in groups]

    def validate_schedule_at(self, field):
        if field.data and self.schedule_utc() is None:
            raise ValidationError(_l("Use a date and time like 2026-12-31 18:30."))

    def schedule_utc(self):
        """The chosen Kuwait time as naive UTC, or None."""
        text = (self.schedule_at.data or "").strip().replace("T", " ")
        if not text:
            return None
        for pattern in ("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"):
            try:
                local = datetime.datetime.strptime(text, pattern).replace(tzinfo=KUWAIT)
            except ValueError:
                continue
            return local.astimezone(datetime.UTC).replace(tzinfo=None)
        return None


class OptOutForm(FlaskForm):
    numbers = TextAreaField(_l("Numbers"), validators=[Length(max=2_000_000)],
                            description=_l("One or more numbers, separated by commas, spaces or new lines."))
