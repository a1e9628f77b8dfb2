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
    # The transfer table (upload and download against plain), then the uploads against a raw body read (the
    # PDF, the .doc without the read-back, and the plain upload, each as a share of the raw read).
    assert len(rows) == 2 and rows[0].count("%") == 2 and rows[1].count("%") == 3, rows
    assert "Uploads against a raw WSGI read of the same body" in result.stdout
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


@pytest.mark.slow
def test_scale_bench_runs_at_a_tiny_size():
    """bench/scale.py end to end at 2% of national size: the demo, bulk growth, every page, every maintenance
    command, and the side-by-side report."""
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "scale.py"), "--scale", "0.02", "--requests", "1"],
                            capture_output=True, text=True, timeout=600, cwd=ROOT, env=unshifted_environment())
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    out = result.stdout
    assert re.search(r"\| national \| [\d,]+ \| 80 \| 400 \| [\d,]+ \| 4,000 \|", out), out  # grown as asked
    pages = [line for line in out.splitlines() if line.startswith(("| Lead:", "| Chair:", "| Member:", "| Observer:",
                                                                   "| NQSW:", "| Assessor:"))]
    assert len(pages) >= 30 and not [line for line in pages if "(HTTP" in line], pages  # every page answered 200
    for command in ("keys rotate", "keys verify", "backup create", "audit verify", "retention purge --dry-run"):
        assert re.search(rf"\| {re.escape(command)} \| [\d.]+ \| [\d.]+ \| \d+x \|", out), command
    assert re.search(r"bare Flask hello: [\d.]+ ms CPU", out) and re.search(r"\d+ of \d+ pages are not bounded", out)


@pytest.mark.slow
def test_download_bench_compares_the_audited_run_with_a_no_op_audit():
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "downloads.py"), "--clients", "2", "--seconds", "1",
                             "--warmup", "0", "--workers", "1", "--threads", "2", "--size", "64K"],
                            capture_output=True, text=True, timeout=300, cwd=ROOT, env=unshifted_environment())
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert re.search(r"\| audited \(the product\) \| \d+ \| 0 \|", result.stdout), result.stdout
    assert re.search(r"\| audit write a no-op \(bench only\) \| \d+ \| 0 \|", result.stdout), result.stdout
    assert re.search(r"audited throughput is \d+% of the no-op run's", result.stdout)


@pytest.mark.slow
def test_page_targets_bench_runs_at_a_tiny_size():
    """bench/page_targets.py end to end at 2% of national size: hello, the Lead's dashboard and portfolios, each
    closed loop then open loop, in one table with a verdict per target."""
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "page_targets.py"), "--scale", "0.02",
                             "--seconds", "1", "--warmup", "0.5", "--workers", "2", "--threads", "2"],
                            capture_output=True, text=True, timeout=600, cwd=ROOT, env=unshifted_environment())
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    out = result.stdout
    assert "| page | saturation req/s | % of hello's | open-loop req/s | p50 ms | p95 ms | p99 ms | errors " in out
    number = r"[\d.]+"
    for page in ("bare Flask hello", "Lead: dashboard", "Lead: portfolios"):
        row = re.search(rf"\| {page} \| (\d+) \| (\d+)% \| (\d+) \| {number} \| {number} \| {number} \| (\d+) "
                        r"\| (-|PASS|MISS) \| (PASS|MISS) \|", out)
        assert row, (page, out)
        assert int(row.group(1)) > 0 and int(row.group(3)) > 0 and row.group(4) == "0", row.group(0)  # no errors
        assert (row.group(5) == "-") == (page == "bare Flask hello"), row.group(0)
    assert re.search(r"\| bare Flask hello \| \d+ \| 100% \|", out)
    assert re.search(r"# Page targets: SQLite, scale 0.02 \(80 portfolios,", out), out
    assert re.search(r"picking it up .*: bare Flask hello [\d.]+ ms, Lead: dashboard [\d.]+ ms, Lead: portfolios", out)
