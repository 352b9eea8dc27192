"""Mobile numbers as people type them, checked against real numbering plans.

Every feature that takes a mobile number (send box, contact import, API)
goes through parse_mobile(). It has to be forgiving about formatting (numbers
arrive pasted from WhatsApp, Excel and Arabic keyboards), strict about the
number itself (an SMS to a landline or a wrong-length number costs credit and
never arrives) and fast (an import checks 100,000+ rows a second).

phonenumbers.parse() is the reference but costs 10-20 µs a number. So, once per
country calling code and on first use, we compile the rules phonenumbers
applies to decide "valid mobile number" into one regular expression over the
national digits. tests/test_phone.py checks the two agree.

A number is stored as digits with the country code and nothing else
("96551234567"): the form SMS gateways expect and the key for de-duplication.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from babel import Locale
from babel.lists import format_list
from flask_babel import LazyString, get_locale, gettext
from flask_babel import lazy_gettext as _l
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, PhoneMetadata

try:  # CPython's regex parser (private): reads metadata patterns for speed-ups
    from re import _constants as _sre, _parser as _sre_parser  # and hints; all optional
except ImportError:
    _sre = _sre_parser = None

DEFAULT_COUNTRY_CODE = "965"

_ENGLISH = Locale("en")
_NON_GEOGRAPHIC = "001"  # phonenumbers' region for +800, +881 and other global services

# Number types that phonenumbers checks before fixed line and mobile: a number
# matching one of these is never "mobile", even when the mobile pattern matches.
_TYPES_BEFORE_MOBILE = (
    "premium_rate", "toll_free", "shared_cost", "voip",
    "personal_number", "pager", "uan", "voicemail",
)


@dataclass(frozen=True, slots=True)
class MobileCheck:
    """What parse_mobile() made of one input: the number to store, or why not."""

    raw: str
    number: str | None  # digits with country code when ok, else None
    reason: LazyString | str | None  # why it was rejected; renders in the user's language
    country_code: str | None  # "965"; also filled for rejections when known
    region: str | None  # "KW"
    country_added: bool  # the default country was assumed (tell the user); on a
    # rejection: the input was judged as a local number of the default country

    @property
    def ok(self) -> bool:
        return self.number is not None


# --- Messages ---------------------------------------------------------------
# Built lazily so they render in the language of the request that shows them,
# and in English outside Flask (CLI, workers, tests).

_EMPTY = _l("empty")
_LETTERS = _l("contains letters")
_UNKNOWN_CODE = _l("unknown country code")


def _ui_locale() -> Locale:
    return get_locale() or _ENGLISH


def _or_list(items: tuple[str, ...]) -> str:
    return format_list(list(items), style="or", locale=_ui_locale())


def _region_name(region: str) -> str:
    return _ui_locale().territories.get(region) or _ENGLISH.territories.get(region, region)


def _lengths_text(lengths: tuple[int, ...]) -> str | LazyString:
    """"8", "9 or 10", "7–13": what "needs %(need)s" says."""
    if len(lengths) == 1:
        return str(lengths[0])
    if len(lengths) > 2 and lengths[-1] - lengths[0] == len(lengths) - 1:
        return f"{lengths[0]}–{lengths[-1]}"
    return LazyString(_or_list, tuple(map(str, lengths)))


def storable(reason):
    """A reason (lazy text, its parts lazy too) as JSON data that stored_text() shows
    later in the reader's language: an import's rejected rows are written by a worker
    but read in the portal, in English or Arabic."""
    if not isinstance(reason, LazyString):
        return reason
    if reason._func is _region_name:
        return {"region": reason._args[0]}
    if reason._func is _or_list:
        return {"or": list(reason._args[0])}
    if reason._func is gettext and len(reason._args) == 1:
        return {"msgid": reason._args[0], "params": {k: storable(v) for k, v in reason._kwargs.items()}}
    return str(reason)


def stored_text(data):
    """The text of storable() data in the current language (plain text stays as it is)."""
    if not isinstance(data, dict):
        return data
    if "region" in data:
        return _region_name(data["region"])
    if "or" in data:
        return _or_list(tuple(data["or"]))
    message = data["msgid"]  # a variable, not a literal: the catalogue already has every message
    return gettext(message, **{k: stored_text(v) for k, v in data.get("params", {}).items()})


# --- Numbering plans, compiled from phonenumbers' metadata ------------------

def _desc_regex(desc) -> str | None:
    """Regex source accepting exactly what phonenumbers' _is_number_matching_desc does.

    A description limits both the pattern and the possible lengths; the
    lengths become a lookahead, left out when the pattern cannot match any
    other length anyway (it would double the matching time). None when the
    description matches nothing.
    """
    if desc is None or not desc.national_number_pattern or -1 in desc.possible_length:
        return None
    pattern = f"(?:{desc.national_number_pattern})\\Z"
    lengths = desc.possible_length
    widths = _match_lengths(desc.national_number_pattern)
    if lengths and not (widths and widths <= set(lengths)):
        alternatives = "|".join(f"\\d{{{n}}}" for n in lengths)
        pattern = f"(?=(?:{alternatives})\\Z){pattern}"
    return pattern


def _match_lengths(pattern: str) -> set[int] | None:
    """Lengths a match of `pattern` can have, as a range (None if unknown or unbounded)."""
    try:
        low, high = _sre_parser.parse(pattern).getwidth()
    except Exception:  # the private parser changed: callers fall back to the safe way
        return None
    return set(range(low, high + 1)) if high - low <= 20 else None


def _mobile_desc(meta):
    # When fixed-line and mobile patterns are identical phonenumbers only
    # consults fixed_line (and calls the result FIXED_LINE_OR_MOBILE).
    return meta.fixed_line if meta.same_mobile_and_fixed_line_pattern else meta.mobile


def _mobile_regex(meta) -> str | None:
    """Valid number, not one of the special types, and matching the mobile pattern."""
    general, mobile = _desc_regex(meta.general_desc), _desc_regex(_mobile_desc(meta))
    if general is None or mobile is None:
        return None
    special = [p for p in (_desc_regex(getattr(meta, t)) for t in _TYPES_BEFORE_MOBILE) if p]
    exclude = f"(?!{'|'.join(special)})" if special else ""
    return f"(?={general}){exclude}{mobile}"


def _claim_regex(meta) -> str:
    """Numbers phonenumbers assigns to this region when several share a country code.

    Mirrors _region_code_for_number_from_list: the region's leading digits if
    it has them, otherwise any valid number of any type.
    """
    if meta.leading_digits:
        return f"(?:{meta.leading_digits})\\d*"
    types = [_desc_regex(getattr(meta, t)) for t in (*_TYPES_BEFORE_MOBILE, "fixed_line")]
    if not meta.same_mobile_and_fixed_line_pattern:
        types.append(_desc_regex(meta.mobile))
    types = [p for p in types if p]
    general = _desc_regex(meta.general_desc)
    if general is None or not types:
        return "(?!)"
    return f"(?={general})(?:{'|'.join(types)})"


def _first_digits(pattern: str) -> str:
    """Digits a match of `pattern` can start with ("4569" for Kuwait mobiles), or "" if unsure.

    Read from the regex parse tree; re._parser is private, hence the fallback.
    """
    try:
        first, _ = _first_chars(_sre_parser.parse(pattern), _sre)
    except Exception:  # the private parser changed: just skip the hint
        return ""
    return "".join(sorted(ch for ch in first if "0" <= ch <= "9"))


def _first_chars(items, c) -> tuple[set[str], bool]:
    """(characters a match can start with, whether the sequence can match empty)."""
    first: set[str] = set()
    for op, arg in items:
        nullable = False
        if op == c.LITERAL:
            chars = {chr(arg)}
        elif op == c.IN:
            chars = set()
            for kind, value in arg:
                if kind == c.LITERAL:
                    chars.add(chr(value))
                elif kind == c.RANGE:
                    chars.update(map(chr, range(value[0], value[1] + 1)))
                elif kind == c.CATEGORY and value == c.CATEGORY_DIGIT:
                    chars.update("0123456789")
                else:
                    raise ValueError(kind)
        elif op == c.BRANCH:
            parts = [_first_chars(branch, c) for branch in arg[1]]
            chars = set().union(*(p[0] for p in parts))
            nullable = any(p[1] for p in parts)
        elif op == c.SUBPATTERN:
            chars, nullable = _first_chars(arg[-1], c)
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT):
            chars, nullable = _first_chars(arg[2], c)
            nullable = nullable or arg[0] == 0
        elif op in (c.AT, c.ASSERT, c.ASSERT_NOT):
            continue  # zero-width: ignoring it can only widen the set
        else:
            raise ValueError(op)
        first |= chars
        if not nullable:
            return first, False
    return first, True


class _Country:
    """Everything parse_mobile needs about one country calling code."""

    __slots__ = ("code", "region", "name", "display", "mobile", "claim",
                 "region_mobile", "valid", "lengths", "length_set", "first_digits",
                 "prefix", "transform", "viable", "keep_lengths", "max_length")

    def __init__(self, code: str, regions: tuple[str, ...]):
        metas = [
            PhoneMetadata.metadata_for_nongeo_region(int(code)) if r == _NON_GEOGRAPHIC
            else PhoneMetadata.metadata_for_region(r)
            for r in regions
        ]
        self.code, self.region = code, regions[0]
        if self.region == _NON_GEOGRAPHIC:
            self.name = f"international network +{code}"
            self.display = _l("international network +%(cc)s", cc=code)
        else:
            self.name = _ENGLISH.territories.get(self.region, self.region)
            self.display = LazyString(_region_name, self.region)

        compiled = {r: _mobile_regex(m) for r, m in zip(regions, metas)}
        self.region_mobile = {r: re.compile(p, re.ASCII) for r, p in compiled.items() if p}
        # Most codes belong to one region: one fullmatch decides. Shared codes
        # (1, 7, 44, ...) first pick the region the way phonenumbers does.
        self.mobile = self.region_mobile.get(self.region) if len(regions) == 1 else None
        self.claim = None
        if len(regions) > 1:
            self.claim = re.compile("|".join(
                f"(?P<{r}>{_claim_regex(m)})" for r, m in zip(regions, metas)), re.ASCII)

        # Any valid number (landline, toll-free...): rejected as "not a mobile"
        # rather than with a length complaint that would send the user hunting.
        generals = [p for p in (_desc_regex(m.general_desc) for m in metas) if p]
        self.valid = re.compile("|".join(generals) or "(?!)", re.ASCII)

        lengths, first = set(), set()
        for meta in metas:
            desc = _mobile_desc(meta)
            if _desc_regex(desc) is None:
                continue
            lengths.update(desc.possible_length or meta.general_desc.possible_length)
            first.update(_first_digits(desc.national_number_pattern))
        self.lengths = tuple(sorted(lengths))
        self.length_set = frozenset(lengths)
        self.first_digits = "".join(sorted(first))

        # National (trunk) prefix handling, e.g. the 0 in "+44 (0)7400 123456".
        main = metas[0]
        general = main.general_desc
        prefix = main.national_prefix_for_parsing
        self.prefix = re.compile(prefix, re.ASCII) if prefix else None
        self.transform = main.national_prefix_transform_rule or None
        self.viable = re.compile(general.national_number_pattern or "(?!)", re.ASCII)
        # phonenumbers keeps a stripped number only if its length is possible (or too long).
        self.keep_lengths = (frozenset(general.possible_length)
                             - frozenset(general.possible_length_local_only))
        self.max_length = max(general.possible_length)

    def claimed_region(self, national: str) -> str | None:
        """The region phonenumbers would place `national` in (None if none fits)."""
        if self.claim is None:
            return self.region
        match = self.claim.fullmatch(national)
        return match.lastgroup if match else None

    def significant(self, national: str) -> str:
        """The digits after the country code without a trunk prefix, exactly as
        phonenumbers.parse() decides it (the 0 in "+44 (0)7400 123456" or
        "+20 010 ...", the 1 in "+1 1 212 ..."; some countries rewrite the rest)."""
        if self.prefix is None or not national:
            return national
        match = self.prefix.match(national)
        if match is None:
            return national
        groups = match.groups()
        if self.transform and groups and groups[-1] is not None:
            stripped = self.prefix.sub(self.transform, national, count=1)
        else:
            stripped = national[match.end():]
        if self.viable.fullmatch(national) and not self.viable.fullmatch(stripped):
            return national
        if len(stripped) in self.keep_lengths or len(stripped) > self.max_length:
            return stripped
        return national

    def match(self, national: str) -> tuple[str, str] | None:
        """(national significant number, region) when `national` is a valid
        mobile number here, else None."""
        if self.prefix is not None:
            national = self.significant(national)
        if len(national) not in self.length_set:
            return None
        if self.claim is None:
            return (national, self.region) if self.mobile.fullmatch(national) else None
        region = self.claimed_region(national)
        pattern = self.region_mobile.get(region)
        return (national, region) if pattern is not None and pattern.fullmatch(national) else None

    def reason(self, national: str) -> tuple[LazyString, str | None]:
        """Why `national` is not a mobile number here, and the region if known."""
        national = self.significant(national)
        region = self.claimed_region(national)
        country = self.display
        if region not in (None, self.region):  # e.g. Jersey, sharing +44
            country = LazyString(_region_name, region)
        got, lengths = len(national), self.lengths
        facts = {"country": country, "got": got, "cc": self.code}
        if not lengths:
            return _l("%(country)s has no mobile numbers", country=country), region
        need = _lengths_text(lengths)
        if self.valid.fullmatch(national):
            text = self._not_mobile(national, country)
        elif got < lengths[0]:
            text = _l("too short for %(country)s: %(got)d digits after %(cc)s, needs %(need)s",
                      need=need, **facts)
        elif got > lengths[-1]:
            text = _l("too long for %(country)s: %(got)d digits after %(cc)s, needs %(need)s",
                      need=need, **facts)
        elif got not in self.length_set:
            text = _l("wrong length for %(country)s: %(got)d digits after %(cc)s, needs %(need)s",
                      need=need, **facts)
        else:
            text = self._not_mobile(national, country)
        return text, region

    def _not_mobile(self, national: str, country) -> LazyString:
        if self.first_digits and national[:1] not in self.first_digits:
            return _l("not a mobile number in %(country)s (mobile numbers start with %(digits)s)",
                      country=country, digits=LazyString(_or_list, tuple(self.first_digits)))
        return _l("not a mobile number in %(country)s", country=country)


class _CountryTable(dict):
    """Calling code ("965") -> _Country, built on first use; None for unassigned codes.

    Building every country up front would cost ~0.2 s at import; a process
    usually meets a handful. Misses are cached too, so lookups stay plain
    dict hits.
    """

    def __missing__(self, code: str) -> _Country | None:
        regions = None
        if code.isascii() and code.isdigit() and code[0] != "0":
            regions = COUNTRY_CODE_TO_REGION_CODE.get(int(code))
        country = _Country(code, regions) if regions else None
        if len(code) <= 3:
            self[code] = country
        return country


_COUNTRIES = _CountryTable()


class _PrefixTable(dict):
    """First three digits of a number -> the _Country whose calling code they
    start with, or None. Calling codes are prefix-free (1-3 digits), so at most
    one fits; caching by three digits makes the lookup a single dict hit."""

    def __missing__(self, digits: str) -> _Country | None:
        country = _COUNTRIES[digits[:1]] or _COUNTRIES[digits[:2]] or _COUNTRIES[digits[:3]]
        self[digits] = country
        return country


_BY_PREFIX = _PrefixTable()


def country_name(country_code: str) -> str:
    """English name for a calling code: "965" -> "Kuwait" (shared codes: the main country)."""
    country = _COUNTRIES[country_code]
    if country is None:
        raise ValueError(f"unknown country calling code {country_code!r}")
    return country.name


# --- Cleaning what people type ------------------------------------------------

_SEPARATORS = frozenset(".-/()[]")
_APOSTROPHES = frozenset("'\u2018\u2019`")  # Excel's text marker, as keyboards mangle it


class _CharMap(dict):
    """str.translate table: any script's decimal digits -> ASCII, separators,
    unicode spaces and invisible marks (RLM, ZWSP, BOM...) -> removed, apostrophes
    -> "'". Filled on demand; everything else passes through to be rejected."""

    def __missing__(self, code_point: int) -> str | None:
        ch = chr(code_point)
        digit = unicodedata.decimal(ch, None)
        if digit is not None:
            out = str(digit)
        elif ch in _APOSTROPHES:
            out = "'"
        elif ch in _SEPARATORS or ch.isspace() or unicodedata.category(ch) in ("Zs", "Cf", "Pd"):
            out = None
        else:
            out = ch
        if len(self) < 4096:  # bound memory against hostile input
            self[code_point] = out
        return out


_CHARS = _CharMap()
# Excel shows long numbers as 9.6551234567E+10; accepted only when no digit is lost.
_SCIENTIFIC = re.compile(r"'?([1-9])(?:\.([0-9]+))?[eE]\+?([0-9]{1,2})")
# A spreadsheet reader that returned a float: 96551234567.0
_WHOLE_FLOAT = re.compile(r"'?([0-9]{7,})\.0+")


def clean_digits(raw: str) -> str | None:
    """Digits of a typed/pasted number, "+" first if it was marked international
    ("+" or "00"): "00965 5123-4567" -> "+96551234567". None when it holds
    letters, stray symbols or nothing at all."""
    return _clean(raw)[0]


def _clean(raw: str) -> tuple[str | None, LazyString | None]:
    text = raw.strip()
    scientific = _SCIENTIFIC.fullmatch(text)
    if scientific:
        return _from_scientific(scientific, text)
    whole = _WHOLE_FLOAT.fullmatch(text)
    text = (whole[1] if whole else raw).translate(_CHARS)
    if text[:1] == "'":
        text = text[1:]
    if text[:1] == "+":
        body, international = text[1:], True
    elif text[:2] == "00":
        body, international = text[2:], True
    else:
        body, international = text, False
    if body.isascii() and body.isdigit():
        return ("+" + body if international else body), None

    if not body:
        return None, _EMPTY
    if any(ch.isalpha() for ch in body):
        return None, _LETTERS
    odd = "".join(dict.fromkeys(ch for ch in body if not ("0" <= ch <= "9")))
    return None, _l("contains characters that are not part of a phone number: %(chars)s",
                    chars=odd)


def _from_scientific(match: re.Match, text: str) -> tuple[str | None, LazyString | None]:
    digits, exponent = match[1] + (match[2] or ""), int(match[3])
    integer, fraction = digits[: exponent + 1], digits[exponent + 1:]
    if len(integer) < exponent + 1:  # 9.66E+10: the real digits are gone
        return None, _l("Excel shortened this number (%(text)s): format the column as text "
                        "and export again", text=text.lstrip("'"))
    if fraction.strip("0"):
        return None, _l("not a whole number (%(text)s)", text=text.lstrip("'"))
    return integer, None


# --- Parsing ------------------------------------------------------------------

def parse_mobile(raw: str, default_country_code: str = DEFAULT_COUNTRY_CODE) -> MobileCheck:
    """Check one number and give its stored form ("96551234567") or the reason.

    Without "+"/"00", digits that form a mobile number of the default country
    are taken as local and get its code (country_added=True); anything else is
    read as already starting with a country code. Never raises on bad input
    (non-strings are converted: spreadsheet readers hand over ints and floats);
    raises ValueError only for an unknown default_country_code.

    To re-check a stored number pass "+" + number: a few foreign mobile numbers
    are as short as a Kuwaiti one (Falklands +500 5xxxx) and would read as local.
    """
    if type(raw) is not str:
        raw = "" if raw is None else str(raw)
    if raw.isascii() and raw.isdigit() and raw[0] != "0":  # fast path: already clean
        digits, international = raw, False
    else:
        cleaned, reason = _clean(raw)
        if cleaned is None:
            return MobileCheck(raw, None, reason, None, None, False)
        international = cleaned[0] == "+"
        digits = cleaned[1:] if international else cleaned

    home = _COUNTRIES[default_country_code]
    if home is None:
        raise ValueError(f"unknown default country code {default_country_code!r}")
    if not international:
        local = home.match(digits)
        if local is not None:
            return MobileCheck(raw, home.code + local[0], None, home.code, local[1], True)

    country = _BY_PREFIX[digits[:3]]
    if country is not None:
        found = country.match(digits[len(country.code):])
        if found is not None:
            return MobileCheck(raw, country.code + found[0], None, country.code, found[1], False)

    # Rejected. A short number without a prefix was most likely meant as local.
    if not international and home.lengths and len(home.significant(digits)) <= home.lengths[-1]:
        reason, region = home.reason(digits)
        return MobileCheck(raw, None, reason, home.code, region, True)
    if country is None:
        return MobileCheck(raw, None, _UNKNOWN_CODE, None, None, False)
    reason, region = country.reason(digits[len(country.code):])
    return MobileCheck(raw, None, reason, country.code, region, False)


# --- Pasted lists ----------------------------------------------------------------

# Always between numbers: commas, semicolons, pipes, tabs, line breaks, and the
# Arabic and full-width comma and semicolon.
_LIST_SEPARATORS = re.compile(r"[,;|\t\n\r\v\f\x85\u2028\u2029\u060c\u061b\uff0c\uff1b]+")
# Spaces are ambiguous ("+965 5123 4567" is one number). A run of spaces splits
# only when the text before it and the word after it each have this many
# digits (a Kuwait number without its code), or the word after starts with +/00.
_FULL_NUMBER_DIGITS = 8


def split_numbers(text: str) -> list[str]:
    """Split a pasted list into one string per number (spacing inside a number
    is normalised to single spaces; empty pieces are dropped).

    Thousands separators ("96,551,234,567") cannot be told from a list and split.
    """
    numbers = []
    for chunk in _LIST_SEPARATORS.split(text):
        words: list[str] = []
        digits_so_far = 0
        for word in chunk.split():
            word_digits = sum(ch.isdigit() for ch in word)
            starts_number = word_digits >= _FULL_NUMBER_DIGITS or word.lstrip("'(")[:1] == "+" \
                or word.lstrip("'(")[:2] == "00"
            if words and digits_so_far >= _FULL_NUMBER_DIGITS and starts_number:
                numbers.append(" ".join(words))
                words, digits_so_far = [], 0
            words.append(word)
            digits_so_far += word_digits
        if words:
            numbers.append(" ".join(words))
    return numbers
