"""Concurrent downloads with the audit trail as in the product, and with the audit write replaced by a no-op.

    .venv/bin/python bench/downloads.py --database-url postgresql+psycopg://USER@HOST/EMPTY_DB
                                        [--clients 100] [--seconds 10] [--workers 4] [--threads 8] [--size 1M]

Every download writes an audit event (and a read receipt). This starts the same throw-away instance and
gunicorn server as bench/run.py, uploads one document as the Lead, signs `--clients` people in through the real
forms, and has each download the document back to back on its own keep-alive connection for `--seconds` after a
warm-up. It then restarts the server with BENCH_AUDIT=off (bench/wsgi.py: audit.record does nothing; the product
has no such switch) and runs the same load again, so the two runs are side by side on the same machine. Reported:
requests, errors (any status but 200, a time-out or a dropped connection), throughput, p50/p95/p99, and the
throughput with the audit trail as a share of the throughput without it (issue 15's target: at least 80%).
"""

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run as bench  # the benchmark's own setup, server and client

TARGET_SHARE = 0.80


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=None, help="An EMPTY database (PostgreSQL) instead of SQLite.")
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--size", default="1M")
    args = parser.parse_args()
    size = bench.parse_size(args.size)
    folder = Path(tempfile.mkdtemp(prefix="portal-bench-"))
    server = None
    port = bench.free_port()
    try:
        env, people, portfolio = bench.prepare(folder, args.database_url, size + bench.MB, args.clients,
                                               light_passwords=True)
        server = bench.start_server(env, port, args.workers, args.threads, "gthread")
        lead = bench.Browser(port)
        lead.sign_in(people[0])
        upload_path = f"/portfolios/{portfolio}/documents/upload"
        fields = {"csrf_token": lead.csrf_token(upload_path), "evidence_type-0": "other", "title-0": "Download test"}
        _, _, response, _ = bench.upload(lead, upload_path, fields, size)
        assert response.status == 302, f"upload: {response.status}"
        document, version = bench.newest_version()
        path = f"/portfolios/{portfolio}/documents/{document}/versions/{version}/download"
        jars = []
        for person in people[1:args.clients + 1]:
            browser = bench.Browser(port)
            browser.sign_in(person)
            jars.append(dict(browser.cookies))
        results = {}
        for name, audit in (("audited (the product)", "on"), ("audit write a no-op (bench only)", "off")):
            if audit == "off":
                bench.stop_server(server)
                server = bench.start_server({**env, "BENCH_AUDIT": "off"}, port, args.workers, args.threads,
                                            "gthread")
            results[name] = bench.page_load(port, path, jars, args.seconds, args.warmup)
        print(f"# {args.clients} clients downloading one {args.size} document, {args.seconds:.0f} s each after "
              f"{args.warmup:.0f} s warm-up; gunicorn gthread {args.workers} workers x {args.threads} threads, "
              f"{'PostgreSQL' if args.database_url else 'SQLite'}\n")
        print("| run | requests | errors | req/s | p50 ms | p95 ms | p99 ms |")
        print("|---|---|---|---|---|---|---|")
        for name, stats in results.items():
            print(f"| {name} | {stats['requests']} | {stats['errors']} | {stats['rps']:.0f} | {stats['p50']:.1f} "
                  f"| {stats['p95']:.1f} | {stats['p99']:.1f} |")
        audited, free = results.values()
        share = audited["rps"] / free["rps"] if free["rps"] else 0.0
        errors = audited["errors"] + free["errors"]
        ok = share >= TARGET_SHARE and not errors
        print(f"\naudited throughput is {share:.0%} of the no-op run's ({bench.verdict(ok)}: >= {TARGET_SHARE:.0%} "
              f"with no errors; {errors} errors)")
        return 0
    finally:
        bench.stop_server(server)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
