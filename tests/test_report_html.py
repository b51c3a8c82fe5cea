"""The HTML report: self-contained, every user string escaped, the summary's numbers those of
the statistics, and loaded in a real browser (headless Chromium) with no errors and every
figure drawn at a non-zero size."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

pytest.importorskip("matplotlib")

from lrlab.lab.spec import Study
from lrlab.lab.store import Store
from lrlab.lab.study import run_study
from lrlab.lab.summary import summarize_study
from lrlab.report import render_report, write_report

HOSTILE = "<script>alert(1)</script>"

STUDY = {
    "name": HOSTILE,
    "description": "a <b>description</b> & more",
    "data": {"name": "blobs", "n_samples": 200, "n_train": 100},
    "model": {"hidden": [8]},
    "train": {"epochs": 6, "batch_size": 25},
    "schedule": "constant({lr})",
    "grid": {"lr": [0.3, 0.03, 1e6]},
    "seeds": [0, 1, 2],
}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("report") / "lrlab.sqlite"
    run_study(Study.from_dict(STUDY), path)
    with Store(path, readonly=True) as s:
        yield s


@pytest.fixture(scope="module")
def page(store, tmp_path_factory):
    out = tmp_path_factory.mktemp("html") / "report"
    return write_report(store, HOSTILE, out)


def test_every_user_string_is_escaped(page):
    text = page.read_text()
    assert "<script" not in text.lower()  # the name, and no script of the report's own
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "a &lt;b&gt;description&lt;/b&gt; &amp; more" in text


def test_self_contained(page):
    text = page.read_text()
    links = re.findall(r"""(?:src|href)\s*=\s*['"]?([^'" >]+)""", text)
    assert links and all(link.startswith("data:image/svg+xml;base64,") for link in links)
    assert "http://" not in text.replace("http://www.w3.org", "")  # SVG namespaces only
    assert not list(page.parent.glob("*.part"))


def test_summary_numbers_are_those_of_the_statistics(store, page):
    text = page.read_text()
    recs = [r for r in store.records(HOSTILE) if r["status"] == "done"]
    hist = {r["trial_id"]: store.history(r["trial_id"]) for r in recs}
    res = summarize_study(recs, hist, spec=store.studies()[0]["spec"])
    best = res.configs[0]
    assert f"{best.metric.mean:.4f} ± {best.metric.half_width:.4f}" in text
    assert "3/3" in text  # lr = 1e6: every seed diverged
    assert "Student-t confidence interval" in text
    assert text.count("<tr") == 1 + 3 + 1 + 9  # summary header + 3 configs, trials + 9


def test_unknown_study_is_named(store):
    with pytest.raises(ValueError, match="study: no study 'nope' in the store"):
        render_report(store, "nope")


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

PROBE = """<script>
window.__errors = [];
window.addEventListener("error", e => window.__errors.push(String(e.message || e.type)), true);
window.addEventListener("load", () => {
  const figures = [...document.images].map(i => {
    const r = i.getBoundingClientRect();
    return {natural: [i.naturalWidth, i.naturalHeight], shown: [r.width, r.height]};
  });
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify({figures, errors: window.__errors});
  document.body.appendChild(out);
});
</script>"""


def chromium(*args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [
            CHROMIUM,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (apt-get install chromium)")
def test_loads_in_a_browser_without_errors_and_draws_every_figure(page, tmp_path):
    # the report has no script; a copy with a probe reports what the browser made of it
    probed = tmp_path / "probed.html"
    probed.write_text(page.read_text().replace("<head>", "<head>" + PROBE, 1))
    run = chromium("--virtual-time-budget=10000", "--dump-dom", probed.as_uri())
    assert run.returncode == 0, run.stderr[-2000:]
    found = re.search(r'<pre id="probe">(.*?)</pre>', run.stdout, re.S)
    assert found, run.stdout[-2000:]
    probe = json.loads(found.group(1).replace("&quot;", '"'))
    assert probe["errors"] == []
    assert len(probe["figures"]) >= 3
    for fig in probe["figures"]:
        assert min(fig["natural"]) > 0 and min(fig["shown"]) > 0, fig
    # the page itself, unprobed: no console message at all, and a screenshot kept
    shot = tmp_path / "report.png"
    run = chromium("--window-size=1300,1800", f"--screenshot={shot}", page.as_uri())
    assert run.returncode == 0, run.stderr[-2000:]
    assert not [line for line in run.stderr.splitlines() if ":CONSOLE" in line]
    assert shot.read_bytes()[:4] == b"\x89PNG" and shot.stat().st_size > 20_000
