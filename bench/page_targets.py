"""DESIGN section 8's page targets at national size: saturation throughput against hello's, and p95 under an
open-loop load at half of saturation (issue 15 item 5).

    .venv/bin/python bench/page_targets.py [--database-url URL] [--scale 1.0] [--seconds 10] [--clients 20]
                                           [--workers 4] [--threads 4]
    make bench-targets [ARGS="--database-url postgresql+psycopg://USER@HOST/DB"]

A throw-away instance is built as bench/scale.py builds it (the demo panel through the services, then bulk
growth to national size, or --scale of it; with --database-url its tables are dropped and re-created), the
portal runs under gunicorn (bench/wsgi.py, gthread, 4 workers x 4 threads by default, as bench/run.py), and the
Lead signs in through the real forms. Then, for the bare Flask hello, the Lead's /dashboard and /portfolios:

1. saturation: --clients closed-loop clients (bench/run.py's page_load: each back to back on its own keep-alive
   connection, the Lead's session cookie shared) for --seconds after a warm-up; requests per second;
2. open loop at half of that page's saturation rate: arrivals on a Poisson schedule (fixed seed), each handed to
   a pool of client threads large enough that an arrival never waits for a free client; latency is measured
   from the arrival's scheduled time, so any queueing (in the client or the server) is counted.

A closed loop with no pause measures only queueing (its p95 is clients / throughput), which is why the latency
target is read from the open loop. Targets (DESIGN section 8): saturation >= 20% of hello's in the same run;
open-loop p95 < 50 ms.
"""

import argparse
import multiprocessing
import os
import queue
import random
import shutil
import sys
import tempfile
import threading
import time
from http.client import HTTPConnection
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import run as harness  # noqa: E402  (beside this script)
import scale  # noqa: E402

TARGETS = {"hello_share": harness.TARGETS["hello_share"], "p95_ms": harness.TARGETS["p95_ms"]}
IDLE_SECONDS = 4.0  # an open-loop client reconnects after this long idle: gunicorn closes keep-alive after 5 s
PAGES = [("bare Flask hello", "/bench-hello/"), ("Lead: dashboard", "/dashboard"),
         ("Lead: portfolios", "/portfolios")]


def percentile(ordered: list[float], share: float) -> float:
    """The value below which `share` of the sorted list lies (nearest rank), in ms."""
    if not ordered:
        return float("inf")
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))] * 1000


def _open_loop_process(port: int, path: str, jar: dict, rate: float, seconds: float, pool: int, seed: int,
                       out: multiprocessing.Queue) -> None:
    """Arrivals at `rate` per second (Poisson) for `seconds`, served by `pool` client threads."""
    headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in jar.items())} if jar else {}
    arrivals: queue.Queue = queue.Queue()
    results: list[tuple[float, int, float]] = []  # (latency from the scheduled time, status, pick-up delay)
    lock = threading.Lock()

    def client() -> None:
        connection = HTTPConnection("127.0.0.1", port, timeout=30)
        mine, used = [], time.perf_counter()
        while (scheduled := arrivals.get()) is not None:
            picked = time.perf_counter()
            if picked - used > IDLE_SECONDS:  # gunicorn has closed it (--keep-alive 5): open a new one, as a browser
                connection.close()
                connection = HTTPConnection("127.0.0.1", port, timeout=30)
            status, connection = harness.get_page(connection, port, path, headers)
            used = time.perf_counter()
            mine.append((used - scheduled, status, picked - scheduled))
        connection.close()
        with lock:
            results.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(pool)]
    for thread in threads:
        thread.start()
    chance = random.Random(seed)
    start = time.perf_counter() + 0.2
    due = start
    while (due := due + chance.expovariate(rate)) < start + seconds:
        while (wait := due - time.perf_counter()) > 0:
            time.sleep(min(wait, 0.05))
        arrivals.put(due)
    for _ in threads:
        arrivals.put(None)
    for thread in threads:
        thread.join()
    out.put(results)


def open_loop(port: int, path: str, jar: dict, rate: float, seconds: float, pool: int, seed: int = 15) -> dict:
    """Run the open loop in a child process (so the parent's threads do not share its GIL); return the statistics."""
    context = multiprocessing.get_context("fork")
    out: multiprocessing.Queue = context.Queue()
    process = context.Process(target=_open_loop_process, args=(port, path, jar, rate, seconds, pool, seed, out))
    process.start()
    results = out.get()
    process.join()
    latencies = sorted(took for took, _, _ in results)
    late = sorted(delay for _, _, delay in results)
    failed: dict[int, int] = {}
    for _, status, _ in results:
        if status != 200:
            failed[status] = failed.get(status, 0) + 1
    return {"requests": len(results), "errors": sum(failed.values()), "failed": failed,
            "rate": len(results) / seconds, "p50": percentile(latencies, 0.50), "p95": percentile(latencies, 0.95),
            "p99": percentile(latencies, 0.99), "pickup_p99": percentile(late, 0.99)}


def mark(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def report(rows: list[tuple[str, dict, dict]], heading: str) -> str:
    """One markdown table: saturation, share of hello's, the open loop's rate and latencies, and the verdicts."""
    hello = rows[0][1]["rps"]
    lines = [heading, "",
             f"targets (DESIGN section 8): saturation >= {TARGETS['hello_share']:.0%} of hello's in the same run; "
             f"open-loop p95 < {TARGETS['p95_ms']} ms at half the page's saturation rate", "",
             "| page | saturation req/s | % of hello's | open-loop req/s | p50 ms | p95 ms | p99 ms | errors "
             "| >= 20% of hello | p95 < 50 ms |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for label, closed, opened in rows:
        share = closed["rps"] / hello
        errors = closed["errors"] + opened["errors"]
        lines.append(f"| {label} | {closed['rps']:.0f} | {share:.0%} | {opened['rate']:.0f} | {opened['p50']:.1f} "
                     f"| {opened['p95']:.1f} | {opened['p99']:.1f} | {errors} "
                     f"| {'-' if label == rows[0][0] else mark(share >= TARGETS['hello_share'])} "
                     f"| {mark(opened['p95'] < TARGETS['p95_ms'] and not opened['errors'])} |")
    late = ", ".join(f"{label} {opened['pickup_p99']:.1f} ms" for label, _, opened in rows)
    lines += ["", f"open-loop check, p99 delay from an arrival's scheduled time to a client thread picking it up (the "
                  f"client's own queueing on these shared cores, counted in the latencies): {late}"]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=None,
                        help="A database whose tables this run drops and re-creates, instead of SQLite.")
    parser.add_argument("--scale", type=float, default=1.0, help="Fraction of national size (1.0: 4,000 portfolios).")
    parser.add_argument("--clients", type=int, default=20, help="Closed-loop clients for the saturation rate.")
    parser.add_argument("--seconds", type=float, default=10.0, help="Seconds of each phase (after the warm-up).")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--pool", type=int, default=64, help="Client threads of the open loop.")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="portal-targets-"))
    server = None

    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    try:
        app = scale.prepare(folder, args.database_url)
        started = time.perf_counter()
        accounts = scale.build_demo(app)
        say(f"demo built in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        scale.grow(app, args.scale, say)
        sizes = scale.sizes_of(app)
        say(f"grown in {time.perf_counter() - started:.1f} s: {sizes}")
        env = {"PORTAL_BENCH": "1", "BENCH_PLAIN_DIR": str(folder / "plain")}
        port = harness.free_port()
        server = harness.start_server(env, port, args.workers, args.threads, "gthread")
        lead = next(account for account in accounts if account.role == "admin")
        jar = dict(scale.sign_in(port, lead).cookies)
        rows = []
        for label, path in PAGES:
            cookies = {} if path.startswith("/bench-") else jar
            closed = harness.page_load(port, path, [cookies] * args.clients, args.seconds, args.warmup)
            say(f"{label}: {closed['rps']:.0f} req/s closed loop, {closed['errors']} errors")
            opened = open_loop(port, path, cookies, max(closed["rps"] / 2, 1 / args.seconds), args.seconds, args.pool)
            say(f"{label}: open loop {opened['rate']:.0f} req/s, p95 {opened['p95']:.1f} ms, "
                f"failed by status (0: no answer) {opened['failed']}")
            rows.append((label, closed, opened))
        heading = (f"# Page targets: {'PostgreSQL' if args.database_url else 'SQLite'}, scale {args.scale:g} "
                   f"({sizes['portfolios']:,} portfolios, {sizes['audit_events']:,} audit events, "
                   f"{sizes['read_receipts']:,} read receipts), gunicorn gthread {args.workers} workers x "
                   f"{args.threads} threads, {args.clients} closed-loop clients, {args.seconds:g} s a phase, "
                   f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
        print(report(rows, heading), flush=True)
        if any(closed["errors"] or opened["errors"] for _, closed, opened in rows):
            log = (folder / "server.log").read_text()
            crash = log.find("Fatal Python error")  # a worker's crash, with PYTHONFAULTHANDLER=1: all its threads
            say("the server's log, " + ("from the first crash:\n" + log[crash:crash + 30000] if crash >= 0
                                        else "last lines:\n" + log[-4000:]))
        return 0
    finally:
        harness.stop_server(server)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
