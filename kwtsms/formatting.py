"""Template filters for the values users read: Kuwait time and point counts."""
from flask_babel import format_datetime, format_decimal


def kuwait_time(value, format="short"):
    """A naive UTC datetime from the database, shown in Asia/Kuwait time."""
    if value is None:
        return ""
    # flask-babel treats naive datetimes as UTC and converts to the app's timezone.
    return format_datetime(value, format)


def points(value):
    return format_decimal(value or 0, format="#,##0")


def register_filters(app):
    app.add_template_filter(kuwait_time, "kuwait_time")
    app.add_template_filter(points, "points")
