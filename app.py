"""WSGI entry point: `gunicorn app:app` and `flask --app app ...` both use it."""
from kwtsms import create_app

app = create_app()
