from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, SelectChoice, SelectField, StringField
from wtforms.validators import Length

from . import reader

ENCODING_CHOICES = [SelectChoice("utf-8-sig", _l("UTF-8 (most files)")),
                    SelectChoice("utf-16", _l("UTF-16 (Excel \"Unicode text\")")),
                    SelectChoice("cp1256", _l("Windows Arabic (Windows-1256)"))]
NEW_GROUP = 0


class _GroupChoice(FlaskForm):
    group = SelectField(_l("Import into group"), coerce=int, validate_choice=False)
    new_group = StringField(_l("or a new group named"), validators=[Length(max=100)])

    def set_groups(self, groups):
        self.group.choices = [SelectChoice(NEW_GROUP, _l("— a new group —"))] + [SelectChoice(g.id, g.name) for g in groups]


class UploadForm(_GroupChoice):
    file = FileField(_l("CSV or Excel file"), validators=[FileRequired(message=_l("Choose a file to upload."))],
                     description=_l("A .csv or .xlsx file: numbers only, or names in the first column and numbers in the second."))


class MappingForm(_GroupChoice):
    encoding = SelectField(_l("Text encoding"), choices=ENCODING_CHOICES, validate_choice=False)
    delimiter = SelectField(_l("Separator"), choices=[SelectChoice(*item) for item in reader.DELIMITERS.items()])
    has_header = BooleanField(_l("The first row is a header"))
    number_column = SelectField(_l("Numbers are in column"), coerce=int, validate_choice=False)
    name_column = SelectField(_l("Names are in column"), coerce=int, validate_choice=False)

    def set_columns(self, count, header):
        labels = [SelectChoice(c, f"{c + 1}" + (f" ({header[c]})" if c < len(header) and header[c] else ""))
                  for c in range(count)]
        self.number_column.choices = labels
        self.name_column.choices = [SelectChoice(-1, _l("no names"))] + labels
