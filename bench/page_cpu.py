"""Server CPU time per request, read from /proc, so it holds on a machine whose speed varies.

    .venv/bin/python bench/page_cpu.py [--requests 2000] [--paths /dashboard,/bench-hello/]

Starts the same throw-away instance and gunicorn server as bench/run.py with one worker and one thread, signs
one person in through the real forms, then sends each path back to back on one keep-alive connection and
prints the worker's CPU time (user + system) per request, the client's own CPU time and the wall time.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run as bench  # the benchmark's own setup, server and client


def worker_cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU time of these processes, in seconds."""
    ticks = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--paths", default="/dashboard,/bench-hello/")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="portal-bench-"))
    server = None
    try:
        env, people, _ = bench.prepare(folder, None, bench.MB, 1, light_passwords=True)
        port = bench.free_port()
        server = bench.start_server(env, port, 1, 1, "gthread")
        pids = bench.worker_pids(server.pid)
        browser = bench.Browser(port)
        browser.sign_in(people[1])
        for path in args.paths.split(","):
            for _ in range(200):  # warm up
                browser.request("GET", path)
            server_before, client_before, wall_before = worker_cpu_seconds(pids), time.process_time(), time.time()
            for _ in range(args.requests):
                response, _ = browser.request("GET", path)
                assert response.status == 200, f"{path}: {response.status}"
            per = 1e6 / args.requests
            print(f"{path:25s} server CPU {(worker_cpu_seconds(pids) - server_before) * per:6.0f} us/request   "
                  f"client CPU {(time.process_time() - client_before) * per:5.0f} us/request   "
                  f"wall {(time.time() - wall_before) * per:6.0f} us/request", flush=True)
        return 0
    finally:
        bench.stop_server(server)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
