"""`POST /API/<endpoint>/`: the kwtSMS-compatible JSON API.

No session and no CSRF: a request authenticates by its API credentials only.
Every reply is JSON, errors included (unknown endpoints, wrong methods, bodies too
large or unreadable, rate limits, and any unexpected failure).
"""
import json
import logging
from pathlib import Path
from urllib.parse import parse_qsl

from flask import Blueprint, abort, current_app, request
from werkzeug.exceptions import HTTPException, default_exceptions

from .. import ratelimit
from ..extensions import csrf
from . import service, webhooks  # noqa: F401  (webhooks: connects the delivery-report receiver)
from .service import ApiError

log = logging.getLogger("kwtsms.api")

bp = Blueprint("api", __name__)
csrf.exempt(bp)

OPENAPI_PATH = Path(__file__).with_name("openapi.yaml")
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def json_response(payload, status=200, headers=None):
    response = current_app.response_class(json.dumps(payload, ensure_ascii=False), status=status,
                                          mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    if headers:
        response.headers.update(headers)
    return response


def error_response(error, headers=None):
    return json_response(error.reply(), error.status, headers)


def _read_params():
    """The request's parameters: a JSON object, or a form (legacy clients). The query
    string is ignored: credentials never travel in a URL."""
    request.max_content_length = current_app.config["API_MAX_BODY_BYTES"]
    mimetype = request.mimetype
    if mimetype in FORM_TYPES:
        return {key: value for key, value in request.form.items()}
    body = request.get_data(cache=False)
    if not body.strip():
        return {}
    looks_json = body.lstrip()[:1] == b"{"
    if mimetype == "application/json" or mimetype.endswith("+json") or (
            mimetype in ("", "text/plain") and looks_json):
        try:
            params = json.loads(body)
        except RecursionError:
            raise ApiError("ERR400", "The JSON body is nested too deeply.")
        except ValueError as error:  # JSONDecodeError and UnicodeDecodeError (bytes that are not UTF-8)
            raise ApiError("ERR400", f"The body is not valid JSON: {error}.")
        if not isinstance(params, dict):
            raise ApiError("ERR400", "The JSON body must be an object of parameters, "
                                     "for example {\"username\": \"...\", \"password\": \"...\"}.")
        return params
    if mimetype in ("", "text/plain"):
        return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    raise ApiError("ERR415", f"Content-Type {mimetype} is not accepted. " + service.DESCRIPTIONS["ERR415"], 415)


@bp.route("/API/<name>/", methods=METHODS)
@bp.route("/API/<name>", methods=METHODS)
def call(name):
    if not ratelimit.hit("api", "API_RATE_LIMIT"):
        abort(429)
    if request.method != "POST":
        return error_response(ApiError("ERR405", f"Use POST for /API/{name}/; credentials never go in a URL.",
                                       405), {"Allow": "POST"})
    try:
        params = _read_params()
        reply = service.call(name.lower(), params, request.remote_addr)
    except ApiError as error:
        return error_response(error)
    return json_response(reply)


@bp.route("/API/openapi.yaml")
def openapi():
    response = current_app.response_class(OPENAPI_PATH.read_bytes(), mimetype="application/yaml")
    response.headers["Access-Control-Allow-Origin"] = "*"  # public description, for API tools
    return response


@bp.route("/API", methods=METHODS)
@bp.route("/API/", methods=METHODS)
@bp.route("/API/<path:rest>", methods=METHODS)
def unknown(rest=""):
    return error_response(ApiError("ERR404", f"Unknown endpoint. Endpoints: POST /API/<name>/ with name one of "
                                             f"{', '.join(service.ENDPOINTS)}; description: /API/openapi.yaml.", 404))


def http_error(error):
    code = error.code or 500
    described = {413: f"The request body is larger than {current_app.config['API_MAX_BODY_BYTES']} bytes.",
                 429: f"Too many requests from this IP address: at most {current_app.config['API_RATE_LIMIT']}."}
    api_error = ApiError(f"ERR{code}", described.get(code) or error.description, code)
    return error_response(api_error, {"Retry-After": str(ratelimit.retry_after("API_RATE_LIMIT"))}
                          if code == 429 else None)


def unexpected_error(error):
    log.exception("API request failed: %s %s", request.method, request.path)
    return error_response(ApiError("ERR500", status=500))


# Flask tries handlers registered for a status code before class-based ones, and the
# app's HTML error pages are registered by code: ours must be too, to win on /API/.
for _code in default_exceptions:
    bp.register_error_handler(_code, http_error)
bp.register_error_handler(HTTPException, http_error)
bp.register_error_handler(Exception, unexpected_error)
