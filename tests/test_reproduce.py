"""scripts/reproduce.py with few seeds and epochs: every page is written, with a verdict per
claim, the table and the figures it links; the range-test page with its numbers."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "reproduce.py"
VERDICTS = {"holds", "holds within noise", "does not hold"}


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _check_range_test(text: str, seeds: int, ramp_steps: int) -> None:
    """The range-test page: two claims with verdicts, the ramp, each seed's pick, the
    retraining table (n + diverged = seeds, mean inside its 95% CI), the real-data command."""
    claims = re.findall(r"^\| (.+?) \| \*\*(.+?)\*\* \| (.+?) \|$", text, re.M)
    assert len(claims) == 2 and {v for _, v, _ in claims} <= VERDICTS
    assert "above 85%" in claims[1][0]
    counted = re.search(r"test accuracy .*\(n=(\d+), (\d+) diverged", claims[1][2])
    assert counted and int(counted.group(1)) + int(counted.group(2)) == seeds
    assert (
        f"x1.005 per batch, {ramp_steps} batches (to {1e-3 * 1.005 ** (ramp_steps - 1):.3g})"
        in text
    )
    picks = re.search(r"Each seed's pick \(`half_divergence`\): (.+?)\. Every rule", text)
    assert picks and len(picks.group(1).split(", ")) == seeds
    assert all(float(p) > 0 for p in picks.group(1).split(", "))
    rows = re.findall(
        r"^\| (half the divergence rate|Keras' default 0\.01)[^|]* \| (\d+) \| (\d+)/(\d+) \| "
        r"(\d\.\d{4}) \[(-?\d\.\d{4}), (\d\.\d{4})\] \|",
        text,
        re.M,
    )
    assert len(rows) == 2
    for _, n, diverged, total, mean, low, high in rows:
        assert int(n) + int(diverged) == int(total) == seeds
        assert float(low) <= float(mean) <= float(high)
    assert "python scripts/reproduce.py --only range_test --data fashion_mnist" in text


def test_reproduce_writes_every_page(tmp_path):
    run = _run("--seeds", "2", "--epochs", "3", "--ramp-steps", "150", "--out", str(tmp_path))
    assert run.returncode == 0, run.stderr[-3000:]
    pages = sorted(p.stem for p in tmp_path.glob("*.md") if p.stem != "README")
    assert pages == [
        "blobs_decay",
        "blobs_lr",
        "blobs_momentum",
        "blobs_optimizers",
        "blobs_plateau",
        "ionosphere_decay",
        "range_test",
    ]
    index = (tmp_path / "README.md").read_text()
    for name in pages:
        text = (tmp_path / f"{name}.md").read_text()
        verdicts = re.findall(r"\| \*\*(.+?)\*\* \|", text)
        assert verdicts and set(verdicts) <= VERDICTS
        figures = re.findall(r"!\[[^]]*\]\(([^)]+)\)", text)
        assert figures
        for figure in figures:
            assert (tmp_path / figure).stat().st_size > 1000
        assert f"({name}.md)" in index
    assert re.findall(r"!\[[^]]*\]\(([^)]+)\)", (tmp_path / "range_test.md").read_text()) == [
        "range_test_curves.png",
        "range_test_retraining.png",
    ]
    _check_range_test((tmp_path / "range_test.md").read_text(), seeds=2, ramp_steps=150)
    assert "range_test: " in run.stdout
    assert not list(tmp_path.glob("*.sqlite*"))
    assert "keras_crosscheck" not in index  # linked only where its page exists


def test_index_links_the_keras_crosscheck(tmp_path):
    (tmp_path / "keras_crosscheck.md").write_text("# lrlab against Keras\n")
    run = _run("--index-only", "--out", str(tmp_path))
    assert run.returncode == 0, run.stderr[-3000:]
    assert "(keras_crosscheck.md)" in (tmp_path / "README.md").read_text()
    assert not list(tmp_path.glob("*.png"))  # nothing was run
