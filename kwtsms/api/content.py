"""The operator's word lists: a message containing a bad-language word is refused
(ERR031), one containing a spam phrase too (ERR032), whether it comes from the web
composer or the API (kwtsms.messages.service.checked_text asks content_refusal()).

Matching is on whole words, ignoring case and the spacing between words ("Free
  Money" matches "free money"; "class" does not match "ass"). Each process keeps
the compiled lists for CACHE_SECONDS (edits in this process refresh them at once).
"""
import re
import threading
import time
import unicodedata

from flask_babel import lazy_gettext as _l
from peewee import IntegrityError

from ..admin.service import audit
from ..db import db
from ..errors import FieldErrors
from ..models import ContentRule

CACHE_SECONDS = 60
KIND_LABELS = {ContentRule.BAD_LANGUAGE: _l("Bad language"), ContentRule.SPAM: _l("Spam")}
CODES = {ContentRule.BAD_LANGUAGE: "ERR031", ContentRule.SPAM: "ERR032"}

_cache = {"rules": None}
_lock = threading.Lock()


def normalize(text):
    return " ".join(unicodedata.normalize("NFKC", text or "").casefold().split())


def _pattern(phrases):
    if not phrases:
        return None
    words = (r"\s+".join(re.escape(word) for word in phrase.split()) for phrase in phrases)
    return re.compile(r"(?<!\w)(?:" + "|".join(sorted(words, key=len, reverse=True)) + r")(?!\w)")


def _compiled():
    cached = _cache["rules"]
    if cached is None or cached[0] is not db.obj or time.monotonic() - cached[1] > CACHE_SECONDS:
        with _lock:
            phrases = {kind: [] for kind in ContentRule.KINDS}
            for kind, normalized in ContentRule.select(ContentRule.kind, ContentRule.normalized).tuples():
                phrases.setdefault(kind, []).append(normalized)
            cached = (db.obj, time.monotonic(), {kind: _pattern(p) for kind, p in phrases.items()})
            _cache["rules"] = cached
    return cached[2]


def invalidate_cache():
    _cache["rules"] = None


def content_refusal(text):
    """(code, message) when the text contains a listed phrase, else None."""
    rules = _compiled()
    if not any(rules.values()):
        return None
    folded = unicodedata.normalize("NFKC", text).casefold()
    bad = rules.get(ContentRule.BAD_LANGUAGE)
    if bad is not None and bad.search(folded):
        return CODES[ContentRule.BAD_LANGUAGE], _l(
            "The message contains a word that is not allowed (bad language). Change the text and send again.")
    spam = rules.get(ContentRule.SPAM)
    if spam is not None and spam.search(folded):
        return CODES[ContentRule.SPAM], _l(
            "The message looks like spam (it contains a phrase on the operator's spam list). Change the text.")
    return None


def rules():
    return ContentRule.select().order_by(ContentRule.kind, ContentRule.normalized)


def add_rule(admin, kind, phrase):
    normalized = normalize(phrase)
    if kind not in ContentRule.KINDS:
        raise FieldErrors.single("kind", _l("Choose bad language or spam."))
    if not normalized or len(normalized) > 100:
        raise FieldErrors.single("phrase", _l("Enter a word or phrase of at most 100 characters."))
    try:
        with db.atomic():
            rule = ContentRule.create(kind=kind, phrase=phrase.strip()[:100], normalized=normalized,
                                      created_by=admin.id)
            audit(admin, "content_rule.added", None, kind=kind, phrase=normalized)
    except IntegrityError:
        raise FieldErrors.single("phrase", _l("This phrase is already on the list."))
    invalidate_cache()
    return rule


def delete_rule(admin, rule_id):
    with db.atomic():
        rule = ContentRule.get_or_none(ContentRule.id == rule_id)
        if rule is None:
            return False
        rule.delete_instance()
        audit(admin, "content_rule.deleted", None, kind=rule.kind, phrase=rule.normalized)
    invalidate_cache()
    return True
