"""SMS text rules: encoding choice, unit and page counting, splitting, cleaning,
HTML refusal and {name} rendering.

Where a count can be checked independently, the oracle is the gsm0338 codec
itself (septets) or Python's UTF-16 encoder (code units), not the module's own
tables.
"""
import unicodedata

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from kwtsms.smstext import MAX_PAGES, TextInfo, analyze, clean, has_html, is_gsm7, render, split

AR = "ب"  # one Arabic letter: UCS-2, one unit
EMOJI = "😀"  # astral: UCS-2, two units (a surrogate pair)
EXTENSION = "^{}\\[]~|€\f"


def septets(text):
    return len(text.encode("gsm03.38"))


def utf16_units(text):
    return len(text.encode("utf-16-le")) // 2


def codec_says_gsm7(text):
    """ESC is encodable but would merge with the next septet, so it is not GSM-7 text."""
    try:
        text.encode("gsm03.38")
    except UnicodeEncodeError:
        return False
    return "\x1b" not in text


# --- counting ---------------------------------------------------------------


@pytest.mark.parametrize(
    "text, encoding, units, pages, per_page, remaining",
    [
        ("", "gsm7", 0, 0, 160, 160),
        ("a", "gsm7", 1, 1, 160, 159),
        ("a" * 160, "gsm7", 160, 1, 160, 0),
        ("a" * 161, "gsm7", 161, 2, 153, 145),
        ("a" * 306, "gsm7", 306, 2, 153, 0),
        ("a" * 307, "gsm7", 307, 3, 153, 152),
        # extension characters cost two septets
        ("[x]", "gsm7", 5, 1, 160, 155),
        (EXTENSION, "gsm7", 20, 1, 160, 140),
        ("€" * 80, "gsm7", 160, 1, 160, 0),
        ("a" * 159 + "€", "gsm7", 161, 2, 153, 145),
        # the pair straddling 153 moves whole to page 2, which then overflows:
        # 306 septets, yet three pages
        ("a" * 152 + "{" + "a" * 152, "gsm7", 306, 3, 153, 152),
        (AR * 70, "ucs2", 70, 1, 70, 0),
        (AR * 71, "ucs2", 71, 2, 67, 63),
        (AR * 134, "ucs2", 134, 2, 67, 0),
        (AR * 135, "ucs2", 135, 3, 67, 66),
        ("مرحبا", "ucs2", 5, 1, 70, 65),
        (EMOJI, "ucs2", 2, 1, 70, 68),
        (EMOJI * 35, "ucs2", 70, 1, 70, 0),
        # the emoji straddling 67 moves whole to page 2: 134 units, three pages
        (AR * 66 + EMOJI + AR * 66, "ucs2", 134, 3, 67, 66),
        # one non-GSM character makes the whole message UCS-2
        ("a" * 100 + AR, "ucs2", 101, 2, 67, 33),
        ("{" * 10 + AR, "ucs2", 11, 1, 70, 59),
        ("é", "gsm7", 1, 1, 160, 159),
        ("ê", "ucs2", 1, 1, 70, 69),
        ("café", "gsm7", 4, 1, 160, 156),
        ("crêpe", "ucs2", 5, 1, 70, 65),
        ("\x1b", "ucs2", 1, 1, 70, 69),
    ],
)
def test_analyze_counts(text, encoding, units, pages, per_page, remaining):
    info = analyze(text)
    assert (info.encoding, info.units, info.pages, info.per_page, info.remaining) == (
        encoding,
        units,
        pages,
        per_page,
        remaining,
    )
    assert info.too_long is False
    assert len(split(text)) == pages


@pytest.mark.parametrize(
    "text, pages, too_long",
    [
        ("a" * 153 * MAX_PAGES, 7, False),
        ("a" * (153 * MAX_PAGES + 1), 8, True),
        ("€" * 76 * MAX_PAGES, 7, False),  # 152 septets a page: 153 would split a pair
        ("€" * (76 * MAX_PAGES + 1), 8, True),
        (AR * 67 * MAX_PAGES, 7, False),
        (AR * (67 * MAX_PAGES + 1), 8, True),
        (EMOJI * 33 * MAX_PAGES, 7, False),  # 66 units a page
        (EMOJI * (33 * MAX_PAGES + 1), 8, True),
    ],
)
def test_too_long_past_max_pages(text, pages, too_long):
    info = analyze(text)
    assert (info.pages, info.too_long) == (pages, too_long)


def test_text_info_is_frozen_and_slotted():
    info = analyze("hi")
    assert info == TextInfo("hi", "gsm7", 2, 2, 1, 160, 158, False)
    with pytest.raises(AttributeError):
        info.pages = 2
    assert not hasattr(info, "__dict__")


def test_chars_count_code_points_not_units():
    info = analyze("a€" + EMOJI)
    assert (info.chars, info.units) == (3, 4)


# --- splitting --------------------------------------------------------------


@pytest.mark.parametrize(
    "text, parts",
    [
        ("", []),
        ("hello", ["hello"]),
        ("a" * 160, ["a" * 160]),
        ("a" * 161, ["a" * 153, "a" * 8]),
        ("a" * 152 + "{" + "a" * 152, ["a" * 152, "{" + "a" * 151, "a"]),
        (AR * 71, [AR * 67, AR * 4]),
        (AR * 66 + EMOJI + AR * 66, [AR * 66, EMOJI + AR * 65, AR]),
        ("hi\u200b", ["hi"]),
    ],
)
def test_split(text, parts):
    assert split(text) == parts


# --- alphabet ---------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("", True),
        ("Hello @£$¥ 123!", True),
        ("ÄÖÑÜ§¿äöñüàèéùìòÇØøÅåΔΦΓΛΩΠΨΣΘΞÆæßÉ", True),
        (EXTENSION, True),
        ("line\nbreak\r", True),
        ("`", False),  # backtick is not in GSM-7
        ("ç", False),  # only in the Spanish shift table
        ("ê", False),
        ("\x1b", False),
        ("مرحبا", False),
        (EMOJI, False),
        ("\u00a0", False),  # no-break space
        ("hi\u200b", True),  # judged after cleaning
    ],
)
def test_is_gsm7(text, expected):
    assert is_gsm7(text) is expected


def test_alphabet_matches_the_codec():
    """Every character up to U+2FFF plus the euro sign is judged and counted as the codec would."""
    for char in map(chr, [*range(0x3000), 0x20AC]):
        if unicodedata.category(char) in ("Cf", "Cs"):
            continue  # removed by clean()
        info = analyze(char)
        if codec_says_gsm7(char):
            assert (info.encoding, info.units) == ("gsm7", septets(char)), repr(char)
        else:
            assert (info.encoding, info.units) == ("ucs2", 1), repr(char)


# --- cleaning ---------------------------------------------------------------

INVISIBLE = [
    "\u200b",  # zero-width space
    "\u200c",  # zero-width non-joiner
    "\u200d",  # zero-width joiner
    "\u2060",  # word joiner
    "\ufeff",  # BOM
    "\u00ad",  # soft hyphen
    "\u200e",  # left-to-right mark
    "\u200f",  # right-to-left mark
    *map(chr, range(0x202A, 0x202F)),  # embeddings and overrides
    *map(chr, range(0x2066, 0x206A)),  # isolates
    "\u061c",  # Arabic letter mark
    "\U000e0067",  # tag letter (subdivision flags)
    "\ud83d",  # lone surrogate
]


@pytest.mark.parametrize("char", INVISIBLE, ids=lambda c: f"U+{ord(c):04X}")
def test_invisible_characters_are_removed_and_not_counted(char):
    text = f"{char}Hello{char} world{char}"
    assert clean(text) == "Hello world"
    info = analyze(text)
    # an invisible character must not force UCS-2 either
    assert (info.text, info.encoding, info.chars, info.units) == ("Hello world", "gsm7", 11, 11)


@pytest.mark.parametrize(
    "text, cleaned",
    [
        ("a\r\nb", "a\nb"),
        ("\r\n\r\n", "\n\n"),
        ("a\rb", "a\rb"),  # a lone CR is a GSM-7 character; only CRLF is folded
        ("a\n\rb", "a\n\rb"),
        ("\r\u200b\n", "\n"),  # invisible characters go first
        ("  padded  ", "  padded  "),
        ("\u00a0\t", "\u00a0\t"),
        ("مرحبا\u200f!", "مرحبا!"),
        ("👍🏽❤️", "👍🏽❤️"),  # skin tone and variation selector stay
        ("👨\u200d👩\u200d👧", "👨👩👧"),  # ZWJ sequences fall apart (documented)
        ("🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f", "🏴"),
    ],
)
def test_clean(text, cleaned):
    assert clean(text) == cleaned


def test_crlf_counts_as_one_septet():
    info = analyze("a\r\n" * 80)
    assert (info.units, info.pages) == (160, 1)


# --- HTML -------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "<b>bold</b>",
        "</a>",
        "<script src='x.js'>",
        "<script>alert(1)</script>",
        "<br/>",
        "<br />",
        "<!-- hidden -->",
        "<!---->",
        "<!DOCTYPE html>",
        'see <a href="https://example.com">here</a>',
        "<IMG SRC=x onerror=alert(1)>",
        "<p\nclass=x>",
        "مرحبا <b>عالم</b>",
        "<\u200bb>",  # the invisible character is cleaned away before sending
    ],
)
def test_has_html(text):
    assert has_html(text) is True


@pytest.mark.parametrize(
    "text",
    [
        "",
        "a < b",
        "x<5 and y>3",
        "<3",
        "I <3 you",
        "5 > 3 < 4",
        "a <- b -> c",
        "<< السابق | التالي >>",
        "مرحبا -> التالي <- السابق",
        "<مرحبا>",
        "السعر < ١٠ و > ٥",
        "mail <info@example.com>",
        "<https://example.com>",
        "<b unclosed",
        "<>",
        "< b>",
    ],
)
def test_has_no_html(text):
    assert has_html(text) is False


# --- rendering --------------------------------------------------------------


@pytest.mark.parametrize(
    "template, name, rendered",
    [
        ("Hi {name}!", "Ali", "Hi Ali!"),
        ("Hi {name}!", None, "Hi !"),
        ("Hi {name}!", "", "Hi !"),
        ("{name}, {name}", "Sara", "Sara, Sara"),
        ("No placeholder", "Ali", "No placeholder"),
        ("{x} {Name} {name}", "Ali", "{x} {Name} Ali"),
        ("Hi {name}", "{name}", "Hi {name}"),
    ],
)
def test_render(template, name, rendered):
    assert render(template, name) == rendered


def test_render_decides_encoding_per_recipient():
    template = "Dear {name}, " + "x" * 140
    assert analyze(render(template, "Ali")).pages == 1
    assert analyze(render(template, "علي")).pages == 3  # Arabic name: UCS-2


# --- properties -------------------------------------------------------------

# Characters that sit on the edges of the rules, mixed into arbitrary text.
EDGE = ["a", " ", "\n", "\r", "\r\n", "é", "ê", AR, EMOJI, "\x1b", *EXTENSION, *INVISIBLE]

texts = st.one_of(
    st.text(),
    # long enough to need several pages
    st.text(st.sampled_from(["a", " ", "\n", "@", "é", *EXTENSION]), min_size=150, max_size=1200),
    st.text(st.sampled_from([AR, "a", "{", EMOJI, "\U0001F1F0", "\u200b"]), min_size=60, max_size=600),
    st.lists(st.one_of(st.characters(), st.sampled_from(EDGE)), max_size=400).map("".join),
)


def limits(info):
    if info.encoding == "gsm7":
        return septets, 160, 153
    return utf16_units, 70, 67


@given(texts)
@example("a" * 152 + "{" + "a" * 152)
@example(AR * 66 + EMOJI + AR * 66)
def test_split_properties(text):
    info = analyze(text)
    parts = split(text)
    assert "".join(parts) == info.text == clean(text)
    assert info.pages == len(parts)
    assert info.too_long == (info.pages > MAX_PAGES)
    assert info.encoding == ("gsm7" if codec_says_gsm7(info.text) else "ucs2")
    count, single, multi = limits(info)
    assert info.units == count(info.text)
    if not parts:
        assert info.text == ""
        return
    assert all(parts)
    limit = single if len(parts) == 1 else multi
    assert all(count(part) <= limit for part in parts)
    assert info.remaining == limit - count(parts[-1])
    # greedy: no part could have taken the next character
    for part, following in zip(parts, parts[1:]):
        assert count(part + following[0]) > multi


@given(st.lists(st.one_of(st.characters(), st.sampled_from(EDGE)), max_size=300).map("".join))
def test_never_raises_and_clean_is_idempotent(text):
    cleaned = clean(text)
    assert clean(cleaned) == cleaned
    assert not any(unicodedata.category(c) in ("Cf", "Cs") for c in cleaned)
    has_html(text)
    is_gsm7(text)
    analyze(text)
    split(text)
