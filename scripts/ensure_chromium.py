"""Make sure Debian's Chromium is present for the browser tests, installing it when we can."""

import os
import shutil
import subprocess
import sys


def main() -> int:
    """Return 0 when a chromium binary is on PATH, installing it with apt-get as root if needed."""
    if shutil.which("chromium"):
        return 0
    if os.geteuid() != 0:
        print("The browser tests need Chromium: run `sudo apt-get install -y chromium`.", file=sys.stderr)
        return 1
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)  # noqa: S607
    subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=True, env=env)  # noqa: S607
    return 0 if shutil.which("chromium") else 1


if __name__ == "__main__":
    sys.exit(main())
