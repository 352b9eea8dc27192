"""SMS text rules of the kwtSMS wire contract: cleaning, encoding, page counting
and splitting.

GSM-7 messages hold 160 septets in one page and 153 per page once split (the
rest of each page is the concatenation header); the extension characters
(``^ { } \\ [ ] ~ | €`` and form feed) cost two septets, an escape plus the
character, and that pair is never split across pages. Any character outside
GSM-7 turns the whole message into UCS-2: 70 UTF-16 code units in one page, 67
per page once split, and a surrogate pair (an emoji, say) is never split.

The alphabet comes from the ``gsm0338`` codec, read once at import into lookup
tables: the codec itself encodes one character at a time in Python, far too slow
for the composer's per-keystroke counter and per-recipient ``{name}`` counting.
"""
import codecs
import re
import unicodedata
from bisect import bisect_left
from dataclasses import dataclass

import gsm0338  # noqa: F401  (importing registers the "gsm03.38" codec)

MAX_PAGES = 7

GSM7_SINGLE, GSM7_MULTI = 160, 153
UCS2_SINGLE, UCS2_MULTI = 70, 67


def _gsm_alphabet():
    """(basic, extension) characters, decoded from the codec's byte tables.

    The raw ESC character is left out: on the wire it would merge with the next
    septet into an extension character, so it can only travel as UCS-2.
    """
    basic = {codecs.decode(bytes([b]), "gsm03.38") for b in range(128) if b != 0x1B}
    extension = {codecs.decode(bytes([0x1B, b]), "gsm03.38", "ignore") for b in range(128)}
    extension.discard("")
    return frozenset(basic), frozenset(extension)


_GSM_BASIC, _GSM_EXTENSION = _gsm_alphabet()
_GSM_ALL = _GSM_BASIC | _GSM_EXTENSION


def _char_class(chars, negate=False):
    return re.compile("[" + "^" * negate + "".join(map(re.escape, sorted(chars))) + "]")


# Regex scans run in C: a few nanoseconds per character.
_NON_GSM = _char_class(_GSM_ALL, negate=True)
_GSM_DOUBLE = _char_class(_GSM_EXTENSION)  # escape + character: two septets
_UCS2_DOUBLE = re.compile("[\U00010000-\U0010FFFF]")  # surrogate pair: two UTF-16 units


def _invisible_pattern():
    """A regex finding what `clean` removes: every Unicode "Cf" (format)
    character -- zero-width space/joiner/non-joiner, word joiner, BOM, soft
    hyphen, bidi marks, embeddings and isolates, the Arabic letter mark, ... --
    and lone surrogates, which cannot be encoded at all.

    Plane-0 characters are listed one by one, which `re` compiles to a bitmap;
    a precise class for the few astral format characters (tags, musical and
    shorthand controls) makes every scan several times slower, so all astral
    characters match and `_drop_invisible` keeps the visible ones.
    """
    bmp = "".join(
        re.escape(chr(cp)) for cp in range(0x10000) if unicodedata.category(chr(cp)) in ("Cf", "Cs")
    )
    return re.compile(f"[{bmp}\U00010000-\U0010FFFF]")


def _drop_invisible(match):
    """Keep a matched astral character unless it is a format character."""
    char = match.group()
    return char if char > "\uffff" and unicodedata.category(char) != "Cf" else ""


_INVISIBLE = _invisible_pattern()

# `<` then a letter, `/` or `!`, a name, optional attributes, `>`; or a comment.
# Tag names are ASCII, so Arabic between angle brackets is not a tag.
_HTML_TAG = re.compile(
    r"<(?:!--.*?--|[/!]?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?)>",
    re.DOTALL,
)


def clean(text: str) -> str:
    """Remove invisible characters and turn CRLF into LF; nothing else changes.

    Invisible characters are pasted in from web pages and word processors, cost
    a page their size in UCS-2 and show nothing on the handset. All are removed,
    including ZWJ, so emoji ZWJ sequences (family, profession emoji) arrive as
    their separate emoji and tag-sequence flags as a plain black flag.
    """
    if not text.isascii():
        text = _INVISIBLE.sub(_drop_invisible, text)
    return text.replace("\r\n", "\n")


def has_html(text: str) -> bool:
    """True when the text contains an HTML tag or comment (the portal refuses them).

    Plain comparisons and hearts (``a < b``, ``x<5 and y>3``, ``I <3 you``) are
    not tags; but anything shaped like one is, e.g. ``Reply <YES>``. Judged on
    the cleaned text, so a zero-width space cannot hide a tag.
    """
    return _HTML_TAG.search(clean(text)) is not None


def is_gsm7(text: str) -> bool:
    """True when every character of the cleaned text is in the GSM-7 default
    alphabet or its extension."""
    return _NON_GSM.search(clean(text)) is None


@dataclass(frozen=True, slots=True)
class TextInfo:
    """What the composer shows and billing charges for one message."""

    text: str  # cleaned text
    encoding: str  # "gsm7" or "ucs2"
    chars: int  # code points
    units: int  # septets (gsm7) or UTF-16 code units (ucs2)
    pages: int  # 0 for empty text
    per_page: int  # 160/153 (gsm7) or 70/67 (ucs2): single vs multi-page
    remaining: int  # units left in the last page
    too_long: bool  # pages > MAX_PAGES


def _measure(text):
    """(encoding, units, leads) of cleaned text.

    Both encodings have characters that take two units -- extension characters
    in GSM-7, astral characters (surrogate pairs) in UCS-2 -- and a page must not
    end between the two. ``leads`` lists the unit offsets of their first halves.
    """
    if _NON_GSM.search(text) is None:
        encoding, doubles = "gsm7", _GSM_DOUBLE
    else:
        encoding, doubles = "ucs2", _UCS2_DOUBLE
    leads = [m.start() + k for k, m in enumerate(doubles.finditer(text))]
    return encoding, len(text) + len(leads), leads


def _page_ends(encoding, units, leads):
    """Unit offsets where each page ends, filling pages greedily."""
    single, multi = (GSM7_SINGLE, GSM7_MULTI) if encoding == "gsm7" else (UCS2_SINGLE, UCS2_MULTI)
    if units <= single:
        return [units] if units else []
    if not leads:
        return [*range(multi, units, multi), units]
    lead_set = set(leads)
    ends = []
    start = 0
    while units - start > multi:
        end = start + multi
        if end - 1 in lead_set:
            end -= 1
        ends.append(end)
        start = end
    ends.append(units)
    return ends


def analyze(text: str) -> TextInfo:
    """Clean the text and count its encoding, units and pages."""
    text = clean(text)
    encoding, units, leads = _measure(text)
    ends = _page_ends(encoding, units, leads)
    pages = len(ends)
    if encoding == "gsm7":
        per_page = GSM7_MULTI if pages > 1 else GSM7_SINGLE
    else:
        per_page = UCS2_MULTI if pages > 1 else UCS2_SINGLE
    last = ends[-1] - ends[-2] if pages > 1 else units
    return TextInfo(
        text=text,
        encoding=encoding,
        chars=len(text),
        units=units,
        pages=pages,
        per_page=per_page,
        remaining=per_page - last,
        too_long=pages > MAX_PAGES,
    )


def split(text: str) -> list[str]:
    """The cleaned text cut into the parts that are sent, one per page.

    Empty text gives no parts; text that fits one page is returned whole.
    """
    text = clean(text)
    encoding, units, leads = _measure(text)
    # A page end never falls inside a pair, so the pairs before it are whole
    # and its character offset is the unit offset minus their count.
    cuts = [0, *(end - bisect_left(leads, end) for end in _page_ends(encoding, units, leads))]
    return [text[a:b] for a, b in zip(cuts, cuts[1:])]


def render(template: str, name: str | None) -> str:
    """The template as one recipient gets it: ``{name}`` becomes the contact's
    name, or nothing when the contact has none. Other braces are left alone."""
    return template.replace("{name}", name or "")
