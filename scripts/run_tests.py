"""Run the whole suite in legs: SQLite (parallel), browser (Chromium + axe), then PostgreSQL when configured.

Set PORTAL_TEST_DATABASE_URL (for example postgresql+psycopg://postgres@127.0.0.1:5432/test) to add the
PostgreSQL leg (two workers, each with its own database beside that one: test_gw0, test_gw1); set
PORTAL_REQUIRE_ALL_LEGS=1 (as .ci/run does) to make a missing PostgreSQL leg a failure. Set PORTAL_SHIFT_DAYS=400
(as .ci/run does) to run the SQLite leg a second time with the date moved that many days ahead (Debian's faketime).
Extra arguments are passed to every pytest run. Nothing counts as passing unless it ran: a skipped test, a leg
that collects no tests and a leg that is not run all fail the run. A summary line per leg ends the output.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

PYTEST = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider"]
NO_TESTS_COLLECTED = 5  # pytest's exit code when nothing was collected
WORKERS = 2
SCRIPTS = Path(__file__).resolve().parent


@dataclass
class Leg:
    """One pytest run and what came of it."""

    name: str
    code: int = 0
    tests: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    seconds: float = 0.0
    ran: bool = True

    @property
    def passed(self) -> int:
        """Tests that passed."""
        return self.tests - self.failed - self.errors - self.skipped

    @property
    def ok(self) -> bool:
        """True only when the leg ran tests, all of which passed."""
        return self.ran and self.code == 0 and self.tests > 0 and self.passed == self.tests

    def summary(self) -> str:
        """One line for the final report."""
        if not self.ran:
            return f"{self.name:<11} NOT RUN (set PORTAL_TEST_DATABASE_URL)"
        verdict = "ok" if self.ok else "FAILED"
        if self.code == NO_TESTS_COLLECTED or (self.code == 0 and self.tests == 0):
            verdict = "FAILED: no tests collected"
        return (f"{self.name:<11} {verdict}: {self.passed} passed, {self.failed} failed, {self.errors} errors, "
                f"{self.skipped} skipped in {self.seconds:.0f} s (pytest exit code {self.code})")


def run_leg(name: str, args: list[str], env: dict[str, str], prefix: list[str] | None = None) -> Leg:
    """Run one leg of the suite (under `prefix`, such as faketime), reading its counts from a JUnit XML report."""
    print(f"\n=== {name} leg ===", flush=True)
    leg = Leg(name)
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "report.xml"
        started = time.monotonic()
        leg.code = subprocess.call([*(prefix or []), *PYTEST, f"--junitxml={report}", *args], env=env)  # noqa: S603 - fixed args
        leg.seconds = time.monotonic() - started
        if report.exists():
            for suite in ET.parse(report).getroot().iter("testsuite"):  # noqa: S314 - our own pytest's report
                leg.tests += int(suite.get("tests", 0))
                leg.failed += int(suite.get("failures", 0))
                leg.errors += int(suite.get("errors", 0))
                leg.skipped += int(suite.get("skipped", 0))
    print(f"=== {leg.summary()} ===", flush=True)
    return leg


def postgres_args(url: str, env: dict[str, str]) -> list[str]:
    """Run the PostgreSQL leg in parallel, one database per worker, when those databases can be created."""
    import psycopg
    from pg_worker_database import worker_url
    from sqlalchemy.engine import make_url

    server = make_url(url).set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    try:
        with psycopg.connect(server, autocommit=True, connect_timeout=10) as connection:
            for number in range(WORKERS):
                name = make_url(worker_url(url, f"gw{number}")).database
                if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
                    connection.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as error:
        print(f"Cannot create one database per worker ({error}); the PostgreSQL leg runs in one process.")
        return ["-p", "no:xdist"]
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SCRIPTS), env.get("PYTHONPATH")]))
    return ["-n", str(WORKERS), "-p", "pg_worker_database"]


def shifted_leg(days: int, extra: list[str], env: dict[str, str]) -> Leg:
    """The SQLite leg again with the machine's date moved `days` ahead (Debian's faketime), so that a test that
    depends on the day it runs fails now rather than on some later day. Monotonic clocks stay real, so that
    timed waits (SQLite's busy handler, thread joins) behave."""
    name = f"SQLite+{days}d"
    faketime = shutil.which("faketime")
    if faketime is None:
        print(f"\n=== {name} leg ===\nPORTAL_SHIFT_DAYS needs Debian's faketime: apt-get install -y faketime")
        return Leg(name, code=1)
    shifted = {**env, "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
    return run_leg(name, ["-m", "not browser", "-n", "2", *extra], shifted, prefix=[faketime, "-f", f"+{days}d"])


def main() -> int:
    """Run every leg; exit non-zero if any leg failed, was skipped or found nothing to run."""
    extra = sys.argv[1:]
    base = {**os.environ, "PORTAL_NO_SKIP": "1"}
    sqlite_env = {k: v for k, v in base.items() if k != "PORTAL_TEST_DATABASE_URL"}
    legs = [
        run_leg("SQLite", ["-m", "not browser", "-n", "2", *extra], sqlite_env),
        run_leg("browser", ["-m", "browser", "-p", "no:xdist", *extra], sqlite_env),
    ]
    shift = os.environ.get("PORTAL_SHIFT_DAYS", "")
    if shift:
        legs.append(shifted_leg(int(shift), extra, sqlite_env))
    if os.environ.get("PORTAL_TEST_DATABASE_URL"):
        parallel = postgres_args(os.environ["PORTAL_TEST_DATABASE_URL"], base)
        legs.append(run_leg("PostgreSQL", ["-m", "not browser", *parallel, *extra], base))
    else:
        legs.append(Leg("PostgreSQL", ran=False))
    required = [leg for leg in legs if leg.ran or os.environ.get("PORTAL_REQUIRE_ALL_LEGS") == "1"]
    print("\n=== Summary ===")
    for leg in legs:
        print(leg.summary())
    failed = [leg.name for leg in required if not leg.ok]
    print(f"\nRESULT: {'FAILED (' + ', '.join(failed) + ')' if failed else 'all legs passed'}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
