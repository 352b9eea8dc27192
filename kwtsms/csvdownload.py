"""CSV downloads that Excel opens correctly (UTF-8 with BOM, Arabic included), streamed."""
import csv
import io

from flask import Response, stream_with_context

CHUNK = 64 * 1024


def csv_response(filename, header, rows):
    """Stream `rows` (an iterable of sequences) under `header` as an attachment."""

    def generate():
        buffer = io.StringIO()
        buffer.write("\ufeff")  # Excel reads UTF-8 only with the BOM
        writer = csv.writer(buffer)
        writer.writerow(header)
        for row in rows:
            writer.writerow(row)
            if buffer.tell() > CHUNK:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    return Response(stream_with_context(generate()), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
