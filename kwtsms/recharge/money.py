"""KWD amounts as integer fils (1 KWD = 1000 fils): parse what people type, format for display."""
import re

FILS_PER_KWD = 1000
CURRENCY = "KWD"

_AMOUNT = re.compile(r"^(\d{1,9})(?:[.,](\d{0,3}))?$")
# Arabic-Indic and Eastern Arabic-Indic digits, and the Arabic decimal separator.
_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹٫", "01234567890123456789.")


class AmountError(ValueError):
    """The text is not an amount of KWD with at most three decimals."""


def parse_kwd(text):
    """'12.5' -> 12500 fils. Raises AmountError for anything that is not a plain
    non-negative decimal number with at most 3 decimals (no signs, exponents, NaN)."""
    cleaned = (text or "").strip().translate(_DIGITS).replace(" ", "")
    if cleaned.upper().endswith(CURRENCY):
        cleaned = cleaned[:-len(CURRENCY)].strip()
    match = _AMOUNT.match(cleaned)
    if not match:
        raise AmountError(text)
    whole, decimals = match.group(1), (match.group(2) or "")
    return int(whole) * FILS_PER_KWD + int(decimals.ljust(3, "0"))


def format_kwd(fils):
    """12500 -> '12.500' (always three decimals, never through a float)."""
    fils = int(fils or 0)
    sign = "-" if fils < 0 else ""
    whole, rest = divmod(abs(fils), FILS_PER_KWD)
    return f"{sign}{whole:,}.{rest:03d}"


def kwd_plain(fils):
    """12500 -> '12.500' without thousands separators, for providers and signatures."""
    whole, rest = divmod(int(fils), FILS_PER_KWD)
    return f"{whole}.{rest:03d}"
