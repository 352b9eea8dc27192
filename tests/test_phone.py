"""kwtsms.phone: formats people type, real mobile rules, reasons, agreement with phonenumbers."""
import dataclasses

import flask
import phonenumbers
import pytest
from flask_babel import Babel
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from kwtsms.phone import (
    DEFAULT_COUNTRY_CODE,
    MobileCheck,
    clean_digits,
    country_name,
    parse_mobile,
    split_numbers,
)

ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
PERSIAN = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")


# --- Accepted inputs ---------------------------------------------------------

@pytest.mark.parametrize(
    ("raw", "number", "region", "country_added"),
    [
        # Kuwait, every way it gets typed or pasted
        ("96551234567", "96551234567", "KW", False),
        ("+965 5123-4567", "96551234567", "KW", False),
        ("00965 51234567", "96551234567", "KW", False),
        ("(965) 5123 4567", "96551234567", "KW", False),
        ("965.5123.4567", "96551234567", "KW", False),
        ("965/5123/4567", "96551234567", "KW", False),
        ("+965\u00a05123\u00a04567", "96551234567", "KW", False),  # NBSP
        ("\u200f+965\u2009٥١٢٣\u2013٤٥٦٧\ufeff", "96551234567", "KW", False),  # RLM, thin space, en dash, BOM
        ("  +965 5123 4567\t", "96551234567", "KW", False),
        ("٩٦٥٥١٢٣٤٥٦٧", "96551234567", "KW", False),  # Arabic-Indic
        ("۹۶۵۵۱۲۳۴۵۶۷", "96551234567", "KW", False),  # Persian
        ("+٩٦٥ ٥١٢٣ ٤٥٦٧", "96551234567", "KW", False),
        ("'96551234567", "96551234567", "KW", False),  # Excel text marker
        ("'+965 5123 4567", "96551234567", "KW", False),
        ("9.6551234567E+10", "96551234567", "KW", False),  # Excel scientific
        ("9.6551234567e10", "96551234567", "KW", False),
        ("96551234567.0", "96551234567", "KW", False),  # float from a spreadsheet reader
        (96551234567, "96551234567", "KW", False),
        ("+965 9012 3456", "96590123456", "KW", False),
        ("+965 6612 3456", "96566123456", "KW", False),
        ("+965 4123 4567", "96541234567", "KW", False),
        # Local: no country code, fits Kuwait's mobile plan
        ("51234567", "96551234567", "KW", True),
        ("5123 4567", "96551234567", "KW", True),
        ("٥١٢٣٤٥٦٧", "96551234567", "KW", True),
        ("'66123456", "96566123456", "KW", True),
        # Other countries
        ("+966 51 234 5678", "966512345678", "SA", False),
        ("00966512345678", "966512345678", "SA", False),
        ("+971 50 123 4567", "971501234567", "AE", False),
        ("+20 100 123 4567", "201001234567", "EG", False),
        ("+20 0100 123 4567", "201001234567", "EG", False),  # trunk 0 left in
        ("+91 81234 56789", "918123456789", "IN", False),
        ("+44 7400 123456", "447400123456", "GB", False),
        ("+44 (0)7400 123456", "447400123456", "GB", False),
        ("+44 7797 712345", "447797712345", "JE", False),  # shares +44
        ("+1 (201) 555-0123", "12015550123", "US", False),
        ("+1 506-234-5678", "15062345678", "CA", False),  # shares +1
        ("12015550123", "12015550123", "US", False),
    ],
)
def test_accepted(raw, number, region, country_added):
    result = parse_mobile(raw)
    assert result.ok, str(result.reason)
    assert result.number == number
    assert result.reason is None
    assert result.country_code == number[: len(result.country_code)]
    assert result.region == region
    assert result.country_added is country_added
    assert result.raw == str(raw)


# --- Rejected inputs, with reasons a person can act on -----------------------

@pytest.mark.parametrize(
    ("raw", "facts", "country_code", "region"),
    [
        ("9657119440", ["too short for Kuwait", "7 digits after 965", "needs 8"], "965", "KW"),
        ("+965 5123 456", ["too short for Kuwait", "7 digits after 965", "needs 8"], "965", "KW"),
        ("965512345678", ["too long for Kuwait", "9 digits after 965", "needs 8"], "965", "KW"),
        ("96522345678", ["not a mobile number in Kuwait", "4, 5, 6", "9)"], "965", "KW"),
        ("+965 1234 5678", ["not a mobile number in Kuwait", "start with 4, 5, 6"], "965", "KW"),
        # without a code: judged as the Kuwaiti number it most likely is
        ("22345678", ["not a mobile number in Kuwait", "start with 4"], "965", "KW"),
        ("5123456", ["too short for Kuwait", "7 digits after 965", "needs 8"], "965", "KW"),
        ("+966 11 234 5678", ["not a mobile number in Saudi Arabia", "start with 5"], "966", "SA"),
        ("+966 51 234 567", ["too short for Saudi Arabia", "8 digits after 966", "needs 9"], "966", "SA"),
        ("+971 50 123 456", ["too short for United Arab Emirates", "8 digits after 971", "needs 9"],
         "971", "AE"),
        ("+971 2 234 5678", ["not a mobile number in United Arab Emirates"], "971", "AE"),  # landline
        ("+20 2 3456 7890", ["not a mobile number in Egypt", "start with 1"], "20", "EG"),
        ("+91 98765 4321", ["too short for India", "9 digits after 91", "needs 10"], "91", "IN"),
        ("+44 121 234 5678", ["not a mobile number in United Kingdom", "start with 7"], "44", "GB"),
        ("+44 7400 1234567", ["too long for United Kingdom", "11 digits after 44", "needs 10"], "44", None),
        ("+1 800 555 0123", ["not a mobile number in United States"], "1", "US"),  # toll-free
    ],
)
def test_rejected_with_reason(raw, facts, country_code, region):
    result = parse_mobile(raw)
    assert not result.ok
    assert result.number is None
    reason = str(result.reason)
    for fact in facts:
        assert fact in reason
    assert result.country_code == country_code
    assert result.region == region


@pytest.mark.parametrize(
    ("raw", "fact"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("\u00a0-", "empty"),
        ("+", "empty"),
        (None, "empty"),
        ("abc", "contains letters"),
        ("+965 5123 abcd", "contains letters"),
        ("96551234567 ext 12", "contains letters"),
        ("+965 5123#4567", "not part of a phone number: #"),
        ("965+51234567", "not part of a phone number: +"),
        ("+999 1234 5678", "unknown country code"),
        ("0512345678999", "unknown country code"),
        ("9.66E+10", "Excel shortened this number (9.66E+10)"),
        ("9.6551234567E+9", "not a whole number"),
    ],
)
def test_rejected_input(raw, fact):
    result = parse_mobile(raw)
    assert not result.ok
    assert fact in str(result.reason)
    assert result.country_code is None and result.region is None


def test_default_country_can_be_changed():
    saudi = parse_mobile("0512345678", default_country_code="966")  # local form with trunk 0
    assert (saudi.number, saudi.country_added) == ("966512345678", True)
    uk = parse_mobile("07400 123456", default_country_code="44")
    assert (uk.number, uk.region, uk.country_added) == ("447400123456", "GB", True)
    assert parse_mobile("96551234567", default_country_code="966").number == "96551234567"
    short = parse_mobile("51234567", default_country_code="966")
    assert "too short for Saudi Arabia: 8 digits after 966, needs 9" == str(short.reason)
    assert short.country_added
    assert DEFAULT_COUNTRY_CODE == "965"
    with pytest.raises(ValueError):
        parse_mobile("51234567", default_country_code="999")


def test_explicit_prefix_is_always_international():
    # 51234567 is a Kuwaiti mobile, but "+51..." says Peru.
    result = parse_mobile("+51234567")
    assert not result.ok
    assert result.country_code == "51"
    assert not result.country_added
    assert parse_mobile("0051234567").country_code == "51"


def test_falklands_number_needs_its_plus():
    # Falklands mobiles are 500 + 5 digits, which is also a Kuwaiti mobile.
    assert parse_mobile("+500 51234").number == "50051234"
    assert parse_mobile("50051234").number == "96550051234"


def test_result_is_frozen():
    result = parse_mobile("51234567")
    assert isinstance(result, MobileCheck)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.number = "1"


# --- Messages render in English without Flask, in the user's language within -

def test_reason_renders_english_outside_flask():
    assert not flask.has_app_context()
    result = parse_mobile("9657119440")
    assert str(result.reason) == "too short for Kuwait: 7 digits after 965, needs 8"
    assert str(parse_mobile("abc").reason) == "contains letters"
    assert str(parse_mobile("").reason) == "empty"


def test_reason_renders_in_request_language():
    app = flask.Flask(__name__)
    Babel(app, locale_selector=lambda: "ar")
    reason = parse_mobile("96522345678").reason
    with app.test_request_context():
        arabic = str(reason)
    assert "الكويت" in arabic  # country name from the locale data
    assert "أو" in arabic  # "4, 5, 6 or 9" as an Arabic list
    assert "Kuwait" in str(reason)  # and English again outside the request


# --- Helpers ------------------------------------------------------------------

@pytest.mark.parametrize(
    ("raw", "cleaned"),
    [
        ("00965 5123-4567", "+96551234567"),
        ("+965 5123 4567", "+96551234567"),
        ("(965) 5123.4567", "96551234567"),
        ("'51234567", "51234567"),
        ("٩٦٥٥١٢٣٤٥٦٧", "96551234567"),
        ("۹۶۵ ۵۱۲۳ ۴۵۶۷", "96551234567"),
        ("9.6551234567E+10", "96551234567"),
        ("abc", None),
        ("51234567x", None),
        ("", None),
        ("9.66E+10", None),
    ],
)
def test_clean_digits(raw, cleaned):
    assert clean_digits(raw) == cleaned


@pytest.mark.parametrize(
    ("code", "name"),
    [("965", "Kuwait"), ("966", "Saudi Arabia"), ("971", "United Arab Emirates"),
     ("20", "Egypt"), ("91", "India"), ("44", "United Kingdom"), ("1", "United States")],
)
def test_country_name(code, name):
    assert country_name(code) == name


def test_country_name_unknown_code():
    with pytest.raises(ValueError):
        country_name("999")


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("+965 5123 4567, 96551234568;51234569", ["+965 5123 4567", "96551234568", "51234569"]),
        ("51234567\n51234568\r\n\n51234569\t51234560", ["51234567", "51234568", "51234569", "51234560"]),
        ("٩٦٥٥١٢٣٤٥٦٧،٥١٢٣٤٥٦٨؛51234569", ["٩٦٥٥١٢٣٤٥٦٧", "٥١٢٣٤٥٦٨", "51234569"]),
        ("51234567 51234568   96551234569", ["51234567", "51234568", "96551234569"]),
        ("+965 5123 4567 +965 5123 4568", ["+965 5123 4567", "+965 5123 4568"]),
        ("00965 5123 4567 00965 5123 4568", ["00965 5123 4567", "00965 5123 4568"]),
        ("(965) 5123 4567", ["(965) 5123 4567"]),
        ("  ,, ;\n", []),
    ],
)
def test_split_numbers(text, parts):
    assert split_numbers(text) == parts


def test_split_then_parse():
    pasted = "+965 5123 4567, ٥١٢٣٤٥٦٨\n9657119440"
    results = [parse_mobile(part) for part in split_numbers(pasted)]
    assert [r.number for r in results] == ["96551234567", "96551234568", None]


# --- Properties -----------------------------------------------------------------

PHONE_ALPHABET = st.sampled_from(
    list("0123456789+-.()/ '\u00a0\u200f,eE") + list("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹") + ["00", "965", "E+10"]
)
PHONE_LIKE = st.lists(PHONE_ALPHABET, max_size=25).map("".join)


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(), PHONE_LIKE))
@example("+")
@example("00")
@example("9" * 40)
@example("+" + "9" * 40)
def test_parse_never_raises_and_is_consistent(raw):
    result = parse_mobile(raw)
    assert isinstance(result, MobileCheck)
    if result.ok:
        assert result.number.isascii() and result.number.isdigit()
        assert result.number.startswith(result.country_code)
        assert result.reason is None
        # The stored form, marked international, reads back unchanged.
        assert parse_mobile("+" + result.number).number == result.number
    else:
        assert str(result.reason)


REGIONS = ["KW", "SA", "AE", "EG", "IN", "GB", "US", "CA", "JM", "JE", "RU", "KZ", "FR", "DE", "AR", "FK"]
MOBILE_TYPES = {phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE}


def _reference(digits: str) -> str | None:
    """phonenumbers' own verdict: the E.164 digits when it is a valid mobile number."""
    try:
        parsed = phonenumbers.parse("+" + digits)
    except phonenumbers.NumberParseException:
        return None
    if phonenumbers.is_valid_number(parsed) and phonenumbers.number_type(parsed) in MOBILE_TYPES:
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)[1:]
    return None


@st.composite
def numbers_near_real_ones(draw):
    """Country code + an example number with some trailing digits replaced,
    one digit dropped or added, or a trunk prefix left in: about a third valid."""
    region = draw(st.sampled_from(REGIONS))
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    kind = draw(st.sampled_from(["mobile", "fixed_line", "toll_free", "premium_rate"]))
    example_desc = getattr(metadata, kind) or metadata.mobile
    national = example_desc.example_number or metadata.mobile.example_number
    keep = draw(st.integers(0, len(national)))
    tail = draw(st.text("0123456789", min_size=len(national) - keep, max_size=len(national) - keep))
    national = national[:keep] + tail
    edit = draw(st.sampled_from(["none", "none", "drop", "add", "trunk"]))
    if edit == "drop":
        national = national[:-1]
    elif edit == "add":
        national += draw(st.sampled_from("0123456789"))
    elif edit == "trunk" and metadata.national_prefix:
        national = metadata.national_prefix + national
    return str(metadata.country_code) + national


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(numbers_near_real_ones())
@example("96551234567")
@example("96522345678")
@example("18005550123")
@example("4407400123456")
def test_agrees_with_phonenumbers(digits):
    result = parse_mobile("+" + digits)
    assert result.number == _reference(digits)
    if result.ok:
        assert result.region == phonenumbers.region_code_for_number(phonenumbers.parse("+" + digits))


@settings(max_examples=300, deadline=None)
@given(numbers_near_real_ones())
def test_formatted_input_gives_the_same_number(digits):
    expected = _reference(digits)
    if expected is None:
        return
    parsed = phonenumbers.parse("+" + digits)
    for style in (phonenumbers.PhoneNumberFormat.INTERNATIONAL, phonenumbers.PhoneNumberFormat.E164):
        written = phonenumbers.format_number(parsed, style)
        assert parse_mobile(written).number == expected
        assert parse_mobile("00" + written.lstrip("+")).number == expected
        assert parse_mobile(written.translate(ARABIC_INDIC)).number == expected


@settings(max_examples=500, deadline=None)
@given(numbers_near_real_ones())
def test_normalising_is_idempotent(digits):
    first = parse_mobile("+" + digits)
    if first.ok and first.region != "FK":  # see test_falklands_number_needs_its_plus
        again = parse_mobile(first.number)
        assert (again.number, again.country_code, again.region) == (
            first.number, first.country_code, first.region)


@settings(max_examples=500, deadline=None)
@given(st.text("0123456789", min_size=1, max_size=10))
def test_local_kuwait_numbers_agree_with_phonenumbers(national):
    result = parse_mobile(national)
    try:
        parsed = phonenumbers.parse(national, "KW")
        reference_ok = (phonenumbers.is_valid_number(parsed)
                        and phonenumbers.number_type(parsed) in MOBILE_TYPES
                        and parsed.country_code == 965
                        and phonenumbers.national_significant_number(parsed) == national)
    except phonenumbers.NumberParseException:
        reference_ok = False
    if reference_ok:
        assert result.number == "965" + national and result.country_added
    elif result.ok:
        assert not result.country_added  # read as international, never as a bad local number


def test_mixed_scripts_and_persian():
    n = "96551234567"
    assert parse_mobile(n.translate(PERSIAN)).number == n
    assert parse_mobile(n[:5].translate(ARABIC_INDIC) + n[5:].translate(PERSIAN)).number == n


def test_mobile_rules_mirror_phonenumbers_number_type():
    """Rules today's real metadata barely exercises, on a made-up country: a number
    must also be valid in general, not of a type phonenumbers checks first
    (premium rate here), and of a length the mobile description allows."""
    import re
    from types import SimpleNamespace

    from kwtsms.phone import _TYPES_BEFORE_MOBILE, _mobile_regex

    desc = phonenumbers.PhoneNumberDesc
    meta = SimpleNamespace(
        **dict.fromkeys(_TYPES_BEFORE_MOBILE),
        general_desc=desc(national_number_pattern=r"[2-689]\d{6,7}", possible_length=(7, 8)),
        mobile=desc(national_number_pattern=r"[5-9]\d{6,7}", possible_length=(8,)),
        fixed_line=desc(national_number_pattern=r"2\d{7}", possible_length=(8,)),
        same_mobile_and_fixed_line_pattern=False,
    )
    meta.premium_rate = desc(national_number_pattern=r"90\d{6}", possible_length=(8,))
    mobile = re.compile(_mobile_regex(meta))
    assert mobile.fullmatch("51234567")
    assert mobile.fullmatch("91234567")
    assert not mobile.fullmatch("90123456")  # premium rate
    assert not mobile.fullmatch("71234567")  # not valid in general
    assert not mobile.fullmatch("5123456")  # 7 digits: not a mobile length
    assert not mobile.fullmatch("21234567")  # fixed line
