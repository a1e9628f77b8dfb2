"""Run the whole suite: the SQLite leg (with the browser tests), then the PostgreSQL leg when configured.

Set PORTAL_TEST_DATABASE_URL (for example postgresql+psycopg://postgres@127.0.0.1:5432/test) to add the
PostgreSQL leg. Extra arguments are passed to pytest. A skipped test fails the run: nothing counts as
passing unless it ran.
"""

import os
import subprocess
import sys

PYTEST = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider"]


def leg(name: str, args: list[str], env: dict[str, str]) -> int:
    """Run one leg of the suite and report its exit code."""
    print(f"\n=== {name} leg ===", flush=True)
    code = subprocess.call(PYTEST + args, env=env)  # noqa: S603 - our own interpreter and fixed args
    print(f"=== {name} leg exit code {code} ===", flush=True)
    return code


def main() -> int:
    """Run every leg, failing if any leg fails."""
    extra = sys.argv[1:]
    base = {**os.environ, "PORTAL_NO_SKIP": "1"}
    sqlite_env = {k: v for k, v in base.items() if k != "PORTAL_TEST_DATABASE_URL"}
    codes = [
        leg("SQLite", ["-m", "not browser", "-n", "2", *extra], sqlite_env),
        leg("browser", ["-m", "browser", *extra], sqlite_env),
    ]
    if os.environ.get("PORTAL_TEST_DATABASE_URL"):
        codes.append(leg("PostgreSQL", ["-m", "not browser", *extra], base))
    else:
        print("\nPORTAL_TEST_DATABASE_URL is not set: the PostgreSQL leg was not run.")
    return max(codes)


if __name__ == "__main__":
    sys.exit(main())
