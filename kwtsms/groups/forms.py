from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectChoice, SelectField, StringField, TelField
from wtforms.validators import DataRequired, Length

_required = DataRequired(message=_l("This field is required."))


class GroupForm(FlaskForm):
    name = StringField(_l("Group name"), validators=[_required, Length(max=100)])


class ContactForm(FlaskForm):
    name = StringField(_l("Name (optional)"), validators=[Length(max=100)])
    mobile = TelField(_l("Mobile number"), validators=[_required, Length(max=40)],
                      description=_l("With the country code, for example 96598765432."))


class BulkForm(FlaskForm):
    action = SelectField(_l("With the selected numbers"), choices=[
        SelectChoice("delete", _l("Delete")), SelectChoice("move", _l("Move to group")),
        SelectChoice("copy", _l("Copy to group"))])
    target = SelectField(_l("Group"), coerce=int, validate_choice=False)
