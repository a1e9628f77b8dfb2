"""The benchmark harness runs end to end (tiny sizes, two clients): gunicorn, real sign-in, both transfer kinds."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import unshifted_environment

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_bench_runs_with_a_tiny_file():
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--sizes", "256K", "--workers", "2", "--threads", "2",
         "--clients", "1", "--seconds", "1", "--warmup", "0", "--repeats", "1", "--light-passwords"],
        capture_output=True, text=True, timeout=300, cwd=ROOT, env=unshifted_environment())
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    rows = [line for line in result.stdout.splitlines() if line.startswith("| 256K |")]
    assert len(rows) == 1 and rows[0].count("%") == 2
    assert "| /dashboard (signed in) |" in result.stdout and "| bare Flask hello |" in result.stdout
    assert "BLAKE3" in result.stdout and "Cobblestone encrypt" in result.stdout
    for way in ("stream", "two passes", "buffer"):  # what authenticating whole before sending costs
        assert re.search(rf"\| 64M \| {way} \| [\d.]+ \| [\d.]+ \| [\d.]+ \|", result.stdout), result.stdout
    assert re.search(r"download ceiling: one core decrypts at \d+ MB/s .*, \d+% of the fastest plain send_file",
                     result.stdout)


def test_download_ceiling_is_one_cores_decryption_over_plain_send_file():
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import run as bench
    finally:
        sys.path.remove(str(ROOT / "bench"))
    assert "25% of the fastest plain send_file here (4000 MB/s); the 50% download target is above" in \
        bench.download_ceiling(1000, 4000)
    assert "75% of" in bench.download_ceiling(3000, 4000) and "within one core's reach" in \
        bench.download_ceiling(3000, 4000)
