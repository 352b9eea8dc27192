"""Reading contact files as people actually have them.

CSV from Excel, Google Sheets, Numbers or a phone, in UTF-8 (with or without
BOM), UTF-16 ("Unicode text") or Windows-1256 (Arabic Excel), separated by
commas, semicolons or tabs; or the first sheet of an .xlsx workbook. The
layout (encoding, delimiter, header row, which column holds names and which
numbers) is detected from the first rows and can be corrected by the user
before the import runs. Rows are streamed: memory stays flat however big the file.
"""
import codecs
import csv
import io
import zipfile
from dataclasses import dataclass, replace
from itertools import islice

from flask_babel import lazy_gettext as _l

from .. import phone

ENCODINGS = ("utf-8-sig", "utf-16", "cp1256")
DELIMITERS = {",": _l("comma"), ";": _l("semicolon"), "\t": _l("tab")}
SAMPLE_BYTES = 64 * 1024
SAMPLE_ROWS = 50
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # old .xls (and .doc): a binary format we do not read

csv.field_size_limit(1024 * 1024)


class UnreadableFile(ValueError):
    """The file cannot be imported; the message says why and what to do."""

    def __init__(self, message):
        super().__init__(str(message))
        self.message = message


@dataclass(frozen=True)
class Layout:
    file_format: str  # "csv" or "xlsx"
    encoding: str = ""
    delimiter: str = ","
    has_header: bool = False
    name_column: int | None = None
    number_column: int = 0
    columns: int = 1
    note: str = ""  # e.g. the workbook has more sheets than the one we read


# --- detection ---------------------------------------------------------------

def detect(path):
    """Work out how to read the file, or raise UnreadableFile."""
    with open(path, "rb") as handle:
        head = handle.read(SAMPLE_BYTES)
    if not head.strip(b" \t\r\n\x00\xef\xbb\xbf\xff\xfe"):
        raise UnreadableFile(_l("The file is empty."))
    if head.startswith(_ZIP_MAGIC):
        layout = Layout(file_format="xlsx", note=_xlsx_note(path))
    elif head.startswith(_OLE_MAGIC):
        raise UnreadableFile(_l("This is an old Excel (.xls) file. Open it in Excel and save it as .xlsx or CSV, then upload that."))
    else:
        encoding = _detect_encoding(head)
        text = _decode_sample(head, encoding)
        if _looks_binary(text):
            raise UnreadableFile(_l("This does not look like a spreadsheet: upload a .csv or .xlsx file."))
        layout = Layout(file_format="csv", encoding=encoding, delimiter=_detect_delimiter(text))
    sample = list(islice(raw_rows(path, layout), SAMPLE_ROWS))
    if not any(any(cell.strip() for cell in row) for row in sample):
        raise UnreadableFile(_l("The file has no rows with content."))
    if not any(sum(ch.isdigit() for ch in cell) >= 5 for row in sample for cell in row):
        raise UnreadableFile(_l("No phone numbers were found at the start of the file (only a header, or text "
                                "without numbers). Put the numbers in their own column and upload it again."))
    return _detect_columns(layout, sample)


def _detect_encoding(head):
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    # UTF-16 without a BOM: every other byte of ASCII text is zero.
    if len(head) >= 4 and head[1::2].count(0) > len(head) // 4:
        return "utf-16-le"
    if len(head) >= 4 and head[0::2].count(0) > len(head) // 4:
        return "utf-16-be"
    try:
        # final=False: the sample may end in the middle of a character.
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        return "utf-8-sig"
    except UnicodeDecodeError:
        return "cp1256"  # what Arabic Windows Excel writes for "CSV"


def _decode_sample(head, encoding):
    return codecs.getincrementaldecoder(encoding)(errors="replace").decode(head, final=False)


def _looks_binary(text):
    controls = sum(1 for ch in text if ch < " " and ch not in "\t\r\n")
    return "\x00" in text or controls > max(8, len(text) // 100)


def _detect_delimiter(text):
    lines = [line for line in text.splitlines()[:SAMPLE_ROWS] if line.strip()]
    best, best_score = ",", 0
    for delimiter in DELIMITERS:
        widths = [len(row) for row in csv.reader(lines, delimiter=delimiter)]
        split = [w for w in widths if w > 1]
        if not split:
            continue
        # Prefer the delimiter that splits most lines into the same width.
        common = max(set(split), key=split.count)
        score = split.count(common)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _number_like(cell):
    checked = phone.parse_mobile(cell) if cell else None
    return checked is not None and (checked.ok or sum(ch.isdigit() for ch in cell) >= 7)


def _detect_columns(layout, sample):
    rows = [row for row in sample if any(cell.strip() for cell in row)]
    columns = max(len(row) for row in rows)
    body = rows[1:] if len(rows) > 1 else rows
    scores = [sum(1 for row in body if c < len(row) and _number_like(row[c])) for c in range(columns)]
    number_column = max(range(columns), key=lambda c: (scores[c], -c))
    has_header = len(rows) > 1 and not _number_like(_cell(rows[0], number_column)) and scores[number_column] > 0
    name_column = None
    for c in range(columns):
        if c == number_column:
            continue
        texts = [_cell(row, c) for row in body]
        if sum(1 for t in texts if t and not _number_like(t)) >= max(1, len(body) // 2):
            name_column = c
            break
    return replace(layout, columns=columns, number_column=number_column, name_column=name_column,
                   has_header=has_header)


def _cell(row, column):
    return row[column].strip() if column is not None and column < len(row) else ""


# --- reading -------------------------------------------------------------------

def _xlsx_workbook(path):
    from openpyxl import load_workbook
    try:
        # A file object, not the path: openpyxl judges paths by their extension.
        return load_workbook(open(path, "rb"), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, TypeError) as error:
        raise UnreadableFile(_l("This Excel file is damaged or is not really an .xlsx file (%(error)s). Open it in Excel, save it again, and upload it.", error=type(error).__name__))
    except Exception as error:  # openpyxl raises its own exception types for broken parts
        raise UnreadableFile(_l("This Excel file cannot be read (%(error)s). Save it again as .xlsx or CSV and upload that.", error=type(error).__name__))


def _xlsx_note(path):
    workbook = _xlsx_workbook(path)
    try:
        names = workbook.sheetnames
        if len(names) > 1:
            return str(_l("The workbook has %(count)d sheets; only the first one, \"%(name)s\", is imported.",
                          count=len(names), name=names[0]))
        return ""
    finally:
        workbook.close()


def _xlsx_cell(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # Excel stores long numbers as floats: 96551234567.0
    return str(value)


class Progress:
    """How far through the file the reader is, for the progress bar.

    The reader installs `position` (bytes read, or rows for .xlsx); it is only
    called when progress is saved, not for every row.
    """
    total = 0

    def position(self):
        return 0

    def fraction(self):
        return min(1.0, self.position() / self.total) if self.total else 0.0


def raw_rows(path, layout, progress=None):
    """Every row of the file as a list of strings (header included)."""
    if layout.file_format == "xlsx":
        workbook = _xlsx_workbook(path)
        try:
            sheet = workbook.worksheets[0]
            index = 0
            if progress is not None:
                progress.total = sheet.max_row or 0
                progress.position = lambda: index
            try:
                for index, row in enumerate(sheet.iter_rows(values_only=True), 1):
                    yield [_xlsx_cell(value) for value in row]
            except (zipfile.BadZipFile, KeyError, ValueError) as error:
                raise UnreadableFile(_l("This Excel file is damaged (%(error)s).", error=type(error).__name__))
        finally:
            workbook.close()
        return
    with open(path, "rb") as raw:
        if progress is not None:
            raw.seek(0, io.SEEK_END)
            progress.total = raw.tell()
            raw.seek(0)
            progress.position = raw.tell
        text = io.TextIOWrapper(raw, encoding=layout.encoding, errors="replace", newline="")
        try:
            yield from csv.reader(text, delimiter=layout.delimiter)
        except csv.Error as error:
            raise UnreadableFile(_l("The file could not be read as CSV: %(error)s", error=str(error)))


def rows(path, layout, progress=None):
    """(row number, name, number text) for every data row; blank lines skipped."""
    number_column, name_column = layout.number_column, layout.name_column
    for row_number, row in enumerate(raw_rows(path, layout, progress), 1):
        if row_number == 1 and layout.has_header:
            continue
        number = row[number_column].strip() if number_column < len(row) else ""
        name = row[name_column] if name_column is not None and name_column < len(row) else ""
        if not number and not any(cell.strip() for cell in row):
            continue
        yield row_number, name, number


def preview(path, layout, count=10):
    """The first rows as they will be read, for the user to check the mapping."""
    return list(islice(rows(path, layout), count))


def header_row(path, layout):
    return next(iter(raw_rows(path, layout)), []) if layout.has_header else []
