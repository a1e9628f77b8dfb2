"""The benchmark harness runs end to end (tiny sizes, two clients): gunicorn, real sign-in, both transfer kinds."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_bench_runs_with_a_tiny_file():
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--sizes", "256K", "--workers", "2", "--threads", "2",
         "--clients", "1", "--seconds", "1", "--warmup", "0", "--repeats", "1", "--light-passwords"],
        capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    rows = [line for line in result.stdout.splitlines() if line.startswith("| 256K |")]
    assert len(rows) == 1 and rows[0].count("%") == 2
    assert "| /dashboard (signed in) |" in result.stdout and "| bare Flask hello |" in result.stdout
    assert "BLAKE3" in result.stdout and "Cobblestone encrypt" in result.stdout
