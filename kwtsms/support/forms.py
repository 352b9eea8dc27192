from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import MultipleFileField
from wtforms import SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice

from ..models import Ticket
from .service import KIND_LABELS


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def _ids(values):
    """Checked boxes as ids; anything that is not a number is dropped (the service says what is missing)."""
    return [int(v) for v in values or () if str(v).isdigit()]


class _NumbersField(SelectMultipleField):
    """Checkbox ids, checked against the message or complaint by the service, not here."""

    def pre_validate(self, form):
        pass

    def process_formdata(self, valuelist):
        self.data = _ids(valuelist)


def _attachments():
    return MultipleFileField(_l("Attachments (optional)"))


class ComplaintForm(FlaskForm):
    recipients = _NumbersField(_l("Numbers concerned"), coerce=int)
    description = TextAreaField(_l("What went wrong?"), filters=[_strip],
                                description=_l("For example: the customer says the message never arrived, "
                                               "or it arrived late or garbled."))
    attachments = _attachments()


class TicketForm(FlaskForm):
    kind = SelectField(_l("About"), default=Ticket.OTHER,
                       choices=[SelectChoice(kind, KIND_LABELS[kind]) for kind in Ticket.GENERAL_KINDS])
    subject = StringField(_l("Title"), filters=[_strip])
    body = TextAreaField(_l("Your question"), filters=[_strip])
    attachments = _attachments()


class ReplyForm(FlaskForm):
    body = TextAreaField(_l("Your reply"), filters=[_strip])
    attachments = _attachments()


class AssignForm(FlaskForm):
    assignee = SelectField(_l("Assigned to"), coerce=lambda v: int(v) if str(v).isdigit() else None,
                           validate_choice=False)


class RefundForm(FlaskForm):
    recipients = _NumbersField(_l("Numbers to refund"), coerce=int)


class ActionForm(FlaskForm):
    """A button that changes something (CSRF only)."""
