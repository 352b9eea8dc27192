"""Import throughput: a 1,000,000-row name,number CSV into an empty group, then
again into the same group (all duplicates), against a bare executemany of the
same rows into the same table; peak memory for 100k and 1M rows.

    .venv/bin/python bench/import_csv.py          # prints JSON

Each measurement runs in its own process so peak RSS belongs to that run alone.
"""
import csv
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import OUT, fresh_app, machine  # noqa: E402


# Two-digit Kuwait mobile prefixes that are valid for every following 6 digits.
VALID_PREFIXES = ("50", "55", "66", "99")


def csv_path(rows):
    path = OUT / f"contacts-{rows}.csv"
    if not path.exists():
        OUT.mkdir(exist_ok=True)
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["name", "mobile"])
            for i in range(rows):
                writer.writerow([f"Customer {i}", f"965{VALID_PREFIXES[i % 4]}{i:06d}"])
    return path


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_import(rows):
    """Import the file twice into one group; report rows/s and this process's peak RSS."""
    app = fresh_app()
    with app.app_context():
        from kwtsms.auth.service import create_account
        from kwtsms.groups.service import create_group
        from kwtsms.imports import service
        account = create_account(email="bench@example.com", password="bench-password-1", check_password=False)
        group = create_group(account, "Bench")
        path = csv_path(rows)
        timings = []
        for _ in range(2):
            with open(path, "rb") as handle:
                contact_import = service.save_upload(account, str(OUT / "uploads"), path.name, handle, 10**10)
            service.choose_group(contact_import, account, group=group)
            started = time.perf_counter()
            finished = service.run_import(contact_import.id)
            timings.append((time.perf_counter() - started, service.report(finished)))
    (first, first_report), (second, second_report) = timings
    assert first_report["imported"] == rows and second_report["duplicates_in_group"] == rows, (first_report, second_report)
    return {"import_s": first, "reimport_s": second, "peak_rss_mb": peak_rss_mb()}


def child_bare(rows):
    """A bare executemany of the same (already parsed) rows into the same table."""
    app = fresh_app()
    with app.app_context():
        from kwtsms.auth.service import create_account
        from kwtsms.db import db
        from kwtsms.groups.service import create_group
        account = create_account(email="bench@example.com", password="bench-password-1", check_password=False)
        group = create_group(account, "Bench")
        with open(csv_path(rows), newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            next(reader)
            data = [(group.id, name, mobile) for name, mobile in reader]
        started = time.perf_counter()
        with db.atomic():
            db.cursor().executemany("INSERT INTO contact (group_id, name, mobile) VALUES (?, ?, ?)", data)
        return {"bare_s": time.perf_counter() - started}


def run_child(kind, rows):
    output = subprocess.run([sys.executable, __file__, "--child", kind, str(rows)], check=True,
                            capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main():
    small, large = 100_000, 1_000_000
    csv_path(small), csv_path(large)
    result_small = run_child("import", small)
    result_large = run_child("import", large)
    bare = run_child("bare", large)
    import_rate = large / result_large["import_s"]
    bare_rate = large / bare["bare_s"]
    print(json.dumps({
        "benchmark": "import_csv", "database": "sqlite", "machine": machine(), "rows": large,
        "import_rows_per_s": round(import_rate), "reimport_all_duplicates_rows_per_s": round(large / result_large["reimport_s"]),
        "bare_executemany_rows_per_s": round(bare_rate), "import_vs_bare_slowdown": round(bare_rate / import_rate, 2),
        "peak_rss_mb_100k_rows": round(result_small["peak_rss_mb"], 1),
        "peak_rss_mb_1m_rows": round(result_large["peak_rss_mb"], 1),
        "targets": {"import_rows_per_s": ">= 100000", "import_vs_bare_slowdown": "<= 2", "peak_rss_mb": "< 150, flat"},
    }, indent=2))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        kind, rows = sys.argv[2], int(sys.argv[3])
        print(json.dumps(child_import(rows) if kind == "import" else child_bare(rows)))
    else:
        main()
