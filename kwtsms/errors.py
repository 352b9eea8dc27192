"""Errors that service functions raise for input a person can correct."""


class FieldErrors(ValueError):
    """One or more form fields are wrong; views show each message beside its field."""

    def __init__(self, errors):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = dict(errors)

    @classmethod
    def single(cls, field, message):
        return cls({field: message})


def apply_to_form(form, error):
    """Put a FieldErrors' messages beside the form's fields (or on the form when no such field)."""
    for name, message in error.errors.items():
        field = getattr(form, name, None)
        if field is not None and hasattr(field, "errors"):
            field.errors = list(field.errors) + [message]
        else:
            form.form_errors.append(message)
