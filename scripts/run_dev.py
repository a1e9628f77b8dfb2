"""`make run`'s last step: the development server and the worker side by side, so the portal's mail goes out.

The worker (`flask --app portal worker`) delivers each email a moment after it is queued (with the development
file backend, as an .eml file in instance/outbox/) and runs the scheduled jobs, as it does in production.
Ctrl-C stops both; if either one stops on its own, the other is stopped too and the exit status says so.
"""

import argparse
import os
import signal
import subprocess
import sys
import time
from types import FrameType

GRACE_SECONDS = 10  # how long each process may take to finish what it is doing before it is killed


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _stop(children: dict[str, subprocess.Popen[bytes]]) -> None:
    """Ask every process still running to stop, then wait for it (killing it after GRACE_SECONDS)."""
    deadline = time.monotonic() + 2  # after Ctrl-C in a terminal, each one has had the signal too
    while time.monotonic() < deadline and any(child.poll() is None for child in children.values()):
        time.sleep(0.1)
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for child in children.values():
        try:
            child.wait(GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def main() -> int:
    """Start the server and the worker; return when both have stopped."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", default="5000")
    args = parser.parse_args()
    flask = [sys.executable, "-m", "flask", "--app", "portal"]
    env = {**os.environ, "PORTAL_DEVELOPMENT": os.environ.get("PORTAL_DEVELOPMENT", "1")}
    # Both explicitly: a process started with SIGINT ignored (as by some test runners) would otherwise not see Ctrl-C.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    # Fixed commands; the host and port come from the developer's own command line (Makefile's HOST and PORT).
    children = {"worker": subprocess.Popen([*flask, "worker"], env=env)}  # noqa: S603
    server = [*flask, "run", "--host", args.host, "--port", args.port]
    children["server"] = subprocess.Popen(server, env=env)  # noqa: S603
    print(f"Started the portal (pid {children['server'].pid}) and the worker that sends its emails and runs its "
          f"scheduled jobs (pid {children['worker'].pid}). Press Ctrl-C to stop both.", flush=True)
    try:
        while True:
            for name, child in children.items():
                code = child.poll()
                if code is not None:
                    print(f"The {name} stopped (exit status {code}), so the portal is stopping.", file=sys.stderr,
                          flush=True)
                    return code or 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not leave a process behind
        _stop(children)


if __name__ == "__main__":
    sys.exit(main())
