from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, PasswordField, SelectChoice, SelectField, StringField
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from ..models import DispatchProvider


class ProviderForm(FlaskForm):
    name = StringField(_l("Name"), validators=[InputRequired(), Length(max=50)])
    kind = SelectField(_l("Kind"), choices=[
        SelectChoice(DispatchProvider.SMPP, _l("SMPP carrier connection")),
        SelectChoice(DispatchProvider.KWTSMS, _l("kwtSMS account (relay)")),
        SelectChoice(DispatchProvider.SINK, _l("Development sink (delivers nothing)"))])
    is_enabled = BooleanField(_l("In use"), default=True)
    host = StringField(_l("Host"), validators=[Optional(), Length(max=200)],
                       description=_l("SMPP: the carrier's host name or address. kwtSMS: leave empty for kwtsms.com, "
                                      "or the API address of a kwtSMS-compatible server."))
    port = IntegerField(_l("Port"), default=2775, validators=[Optional(), NumberRange(min=1, max=65535)])
    system_id = StringField(_l("system_id / API username"), validators=[Optional(), Length(max=100)])
    secret = PasswordField(_l("Password"), validators=[Optional(), Length(max=300)],
                           description=_l("Leave empty to keep the stored one. When none is stored, the "
                                          "server's environment variable shown below is used."))
    clear_secret = BooleanField(_l("Forget the stored password (use the environment's)"))
    system_type = StringField(_l("system_type"), validators=[Optional(), Length(max=13)])
    bind_mode = SelectField(_l("Binds"), choices=[
        SelectChoice(DispatchProvider.TRANSCEIVER, _l("Transceiver everywhere (workers and the receiver)")),
        SelectChoice(DispatchProvider.SPLIT, _l("Workers transmit, the receiver process receives"))])
    window = IntegerField(_l("Submits in flight per connection"), default=10,
                          validators=[Optional(), NumberRange(min=1, max=500)])
    mps = IntegerField(_l("Messages per second per connection (0: no cap)"), default=50,
                       validators=[Optional(), NumberRange(min=0, max=100000)])
    enquire_link = IntegerField(_l("enquire_link after this many quiet seconds"), default=30,
                                validators=[Optional(), NumberRange(min=5, max=3600)])
    sink_delay = IntegerField(_l("Sink: seconds before the delivery report"), default=2,
                              validators=[Optional(), NumberRange(min=0, max=86400)])
    sink_failure_percent = IntegerField(_l("Sink: share of failed reports (%)"), default=0,
                                        validators=[Optional(), NumberRange(min=0, max=100)])


class RouteForm(FlaskForm):
    prefix = StringField(_l("Number prefix"), validators=[Optional(), Length(max=15)],
                         description=_l("Digits with the country code, e.g. 965 or 9656. Empty: the default route."))
    provider = SelectField(_l("Provider"), coerce=int, validate_choice=False)
    note = StringField(_l("Note"), validators=[Optional(), Length(max=200)])


class DeleteRouteForm(FlaskForm):
    pass
