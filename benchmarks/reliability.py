"""Reliability campaign: kill -9 and resume, two writers, fuzzing, damaged stores.

Runs the real ``lrlab`` command in subprocesses against a small study (blobs, MLP 2-16-3, SGD,
8 learning rates x 3 seeds, 10 epochs, float64, cohorts of 2) and prints a summary table that
``docs/reliability.md`` quotes, with the date and commit:

a. **kill** — ``lrlab run`` is SIGKILLed at random moments (1 to 3 times in a row on one store),
   then resumed; after every kill the store must pass ``PRAGMA integrity_check``, hold only
   complete trials (every metric at every epoch, no metrics without a trial) and no duplicate;
   the resumed store must hold the same trials with the same numbers as an uninterrupted run.
b. **writers** — two ``lrlab run`` start at once on one store (two studies that share their
   trials); a writer that finds the store busy must exit 2 with one ``lrlab: error:`` line and
   succeed when re-run; nothing may be lost or duplicated.
c. **fuzz** — ``tests/test_fuzz_*.py`` at ``--fuzz-examples`` examples per test.
d. **damaged** — truncated and overwritten pages, dropped tables, bad ``schema_version``,
   foreign SQLite and non-SQLite files: ``lrlab results`` and ``lrlab run`` must exit 2 with
   exactly one ``lrlab: error:`` line and no traceback.

Each category counts passed and failed checks honestly; failures are listed under the table.

Usage:
    python benchmarks/reliability.py                  # modest: a few minutes on 2 cores
    python benchmarks/reliability.py --kills 100 --writers 20 --fuzz-examples 10000
    python benchmarks/reliability.py --only kill,damaged --seed 3
"""

from __future__ import annotations

import argparse
import datetime
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STUDY = """\
name = "{name}"
seeds = [0, 1, 2]
schedule = "constant({{lr}})"

[data]
name = "blobs"

[model]
hidden = [16]

[train]
epochs = 10
batch_size = 50
dtype = "float64"

[optimizer]
name = "sgd"

[grid]
lr = [0.3, 0.1, 0.03, 0.01, 0.003, 0.001, 3e-4, 1e-4]
"""
METRICS = 5  # loss, accuracy, val_loss, val_accuracy, lr
TOLERANCE = 1e-9  # float64 results do not depend on the cohort a trial was trained in
LRLAB = (sys.executable, "-m", "lrlab")
CATEGORIES = ("kill", "writers", "fuzz", "damaged")


@dataclass
class Tally:
    """Passed and failed checks of one category, with a line per failure."""

    name: str
    passed: int = 0
    failed: int = 0
    notes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def check(self, ok: bool, what: str) -> bool:
        """Count one check; remember ``what`` when it failed."""
        if ok:
            self.passed += 1
        else:
            self.failed += 1
            self.failures.append(what)
        return ok


# -- running lrlab ---------------------------------------------------------------------------------
def lrlab(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``python -m lrlab ARGS`` to completion."""
    return subprocess.run(
        [*LRLAB, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


def start_run(study: Path, out: Path) -> subprocess.Popen[str]:
    """``lrlab run STUDY --out OUT`` in the background (cohorts of 2, no progress lines)."""
    return subprocess.Popen(
        [*LRLAB, "run", str(study), "--out", str(out), "--max-members", "2", "--quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


def one_error_line(stderr: str) -> bool:
    """Exactly one non-empty line, ``lrlab: error: ...``, and no traceback."""
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    return len(lines) == 1 and lines[0].startswith("lrlab: error:") and "Traceback" not in stderr


# -- reading a store without lrlab -----------------------------------------------------------------
def snapshot(path: Path) -> dict[str, dict[str, object]]:
    """Every stored trial: its status, epochs and metric values, read with plain ``sqlite3``."""
    if not path.exists():
        return {}
    db = sqlite3.connect(path)
    try:
        out: dict[str, dict[str, object]] = {}
        for tid, status, epochs in db.execute("SELECT id, status, epochs_run FROM trials"):
            out[tid] = {"status": status, "epochs": epochs, "metrics": {}}
        for tid, name, epoch, value in db.execute("SELECT * FROM metrics"):
            out.setdefault(tid, {"status": None, "epochs": None, "metrics": {}})
            out[tid]["metrics"][(name, epoch)] = value  # type: ignore[index]
        return out
    finally:
        db.close()


def store_problems(path: Path, total: int) -> list[str]:
    """What is wrong with a store that a kill may have interrupted (empty: nothing)."""
    if not path.exists():
        return []
    db = sqlite3.connect(path)
    try:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
        if "trials" not in tables:  # killed before the schema was committed
            return [] if not tables - {"meta"} else [f"partial schema: {sorted(tables)}"]
        problems = []
        if (check := db.execute("PRAGMA integrity_check").fetchone()[0]) != "ok":
            problems.append(f"integrity_check: {check}")
        n, distinct = db.execute("SELECT COUNT(*), COUNT(DISTINCT id) FROM trials").fetchone()
        if n != distinct or n > total:
            problems.append(f"{n} trial rows, {distinct} distinct ids, {total} in the study")
    finally:
        db.close()
    for tid, t in snapshot(path).items():
        epochs = t["epochs"]
        want = {(m, e) for m in {k[0] for k in t["metrics"]} for e in range(epochs or 0)}  # type: ignore[attr-defined]
        if t["status"] != "done" or len(t["metrics"]) != METRICS * (epochs or 0):  # type: ignore[arg-type]
            problems.append(f"trial {tid}: status {t['status']}, {len(t['metrics'])} metric values")  # type: ignore[arg-type]
        elif set(t["metrics"]) != want:  # type: ignore[arg-type]
            problems.append(f"trial {tid}: epochs missing from its history")
    return problems


def differences(path: Path, reference: dict[str, dict[str, object]]) -> tuple[list[str], float]:
    """How a store's trials differ from the reference run's, and the largest numeric gap."""
    got = snapshot(path)
    if set(got) != set(reference):
        return [f"trial ids differ: {len(got)} stored, {len(reference)} expected"], float("nan")
    worst, problems = 0.0, []
    for tid, ref in reference.items():
        a, b = got[tid]["metrics"], ref["metrics"]
        if set(a) != set(b):  # type: ignore[arg-type]
            problems.append(f"trial {tid}: other metrics")
            continue
        for key, value in b.items():  # type: ignore[attr-defined]
            other = a[key]  # type: ignore[index]
            if (value is None) != (other is None):
                problems.append(f"trial {tid} {key}: {other!r} != {value!r}")
            elif value is not None:
                worst = max(worst, abs(other - value))
    if worst > TOLERANCE:
        problems.append(f"largest difference {worst:.3g} > {TOLERANCE:g}")
    return problems, worst


# -- a. kill -9 and resume -------------------------------------------------------------------------
def campaign_kill(
    work: Path,
    study: Path,
    ref: dict[str, dict[str, object]],
    seconds: float,
    rounds: int,
    rng: random.Random,
) -> Tally:
    """SIGKILL ``lrlab run`` 1-3 times per round at random moments, then resume and compare."""
    tally = Tally("kill -9 and resume")
    killed = finished = 0
    worst = 0.0
    for r in range(rounds):
        out = work / f"kill{r}"
        for k in range(rng.randint(1, 3)):
            child = start_run(study, out)
            time.sleep(rng.uniform(0.0, seconds))
            if child.poll() is None:
                os.kill(child.pid, signal.SIGKILL)
                killed += 1
            else:
                finished += 1
            child.wait()
            problems = store_problems(out / "lrlab.sqlite", len(ref))
            tally.check(not problems, f"round {r} kill {k}: {'; '.join(problems[:3])}")
        done = lrlab("run", str(study), "--out", str(out), "--max-members", "2", "--quiet")
        tally.check(
            done.returncode == 0, f"round {r} resume: exit {done.returncode}: {done.stderr[-300:]}"
        )
        problems, gap = differences(out / "lrlab.sqlite", ref)
        worst = max(worst, gap) if gap == gap else worst
        tally.check(not problems, f"round {r} resumed != uninterrupted: {'; '.join(problems[:3])}")
        shutil.rmtree(out, ignore_errors=True)
    tally.notes.append(
        f"{rounds} rounds, {killed} kills mid-run, {finished} runs ended before their kill"
    )
    tally.notes.append(f"largest gap to the uninterrupted run {worst:.3g}")
    return tally


# -- b. two writers --------------------------------------------------------------------------------
def campaign_writers(
    work: Path, studies: tuple[Path, Path], ref: dict[str, dict[str, object]], rounds: int
) -> Tally:
    """Two ``lrlab run`` at once on one store, re-run until both succeed; nothing lost."""
    tally = Tally("two writers")
    refused = 0
    for r in range(rounds):
        out = work / f"writers{r}"
        pending = list(studies)
        attempts = 0
        while pending and attempts < 4:
            attempts += 1
            children = [(s, start_run(s, out)) for s in pending]
            pending = []
            for s, child in children:
                _, err = child.communicate(timeout=300)
                if child.returncode == 2:  # refused (busy store): must say so in one line
                    refused += 1
                    tally.check(
                        one_error_line(err), f"round {r}: busy store message: {err[-300:]!r}"
                    )
                    pending.append(s)
                else:
                    tally.check(
                        child.returncode == 0,
                        f"round {r} {s.stem}: exit {child.returncode}: {err[-300:]!r}",
                    )
        tally.check(not pending, f"round {r}: still refused after {attempts} attempts")
        problems = store_problems(out / "lrlab.sqlite", len(ref))
        problems += differences(out / "lrlab.sqlite", ref)[0]
        db = sqlite3.connect(out / "lrlab.sqlite")
        listed = db.execute("SELECT study, COUNT(*) FROM study_trials GROUP BY study").fetchall()
        db.close()
        if sorted(n for _, n in listed) != [len(ref)] * 2:
            problems.append(f"study_trials per study: {listed}")
        tally.check(not problems, f"round {r}: {'; '.join(problems[:3])}")
        shutil.rmtree(out, ignore_errors=True)
    tally.notes.append(f"{rounds} rounds; a writer found the store busy {refused} times")
    return tally


# -- c. fuzzing ------------------------------------------------------------------------------------
def campaign_fuzz(work: Path, examples: int, seed: int) -> Tally:
    """``pytest tests/test_fuzz_*.py`` with ``LRLAB_FUZZ_EXAMPLES`` examples per test."""
    tally = Tally("fuzzing")
    report = work / "fuzz.xml"
    files = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").glob("test_fuzz_*.py"))
    env = {**os.environ, "LRLAB_FUZZ_EXAMPLES": str(examples)}
    t0 = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            *files,
            "-q",
            "-p",
            "no:cacheprovider",
            f"--hypothesis-seed={seed}",
            f"--junitxml={report}",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    for case in ET.parse(report).getroot().iter("testcase"):
        bad = case.find("failure") if case.find("failure") is not None else case.find("error")
        first = ""
        if bad is not None:
            text = bad.get("message") or bad.text or ""
            first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")[:240]
        tally.check(bad is None, f"{case.get('name')}: {first}")
    tally.notes.append(
        f"{examples} examples per test, seed {seed}, {time.perf_counter() - t0:.0f} s"
    )
    return tally


# -- d. damaged stores -----------------------------------------------------------------------------
def _sql(*statements: str) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        db = sqlite3.connect(path)
        for s in statements:
            db.execute(s)
        db.commit()
        db.close()

    return damage


def _truncate(fraction: float | None) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        size = path.stat().st_size
        with open(path, "r+b") as f:
            f.truncate(4096 if fraction is None else int(size * fraction))

    return damage


def _overwrite(offset: int, length: int) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        with open(path, "r+b") as f:
            f.seek(offset)
            f.write(random.Random(offset).randbytes(length))

    return damage


def _replace(content: bytes | None) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        path.unlink()
        if content is None:
            path.mkdir()
        elif content == b"sqlite":
            _sql("CREATE TABLE notes (a, b)", "INSERT INTO notes VALUES (1, 2)")(path)
        else:
            path.write_bytes(content)

    return damage


DAMAGES: dict[str, Callable[[Path], None]] = {
    "truncated to half": _truncate(0.5),
    "truncated to one page": _truncate(None),
    "header overwritten": _overwrite(0, 100),
    "page 2 overwritten": _overwrite(4096, 4096),
    "last page overwritten": _overwrite(-1, 0),  # replaced below with the real offset
    "trials table dropped": _sql("DROP TABLE trials"),
    "metrics table dropped": _sql("DROP TABLE metrics"),
    "meta table dropped": _sql("DROP TABLE meta"),
    "schema_version 99": _sql("UPDATE meta SET value='99' WHERE key='schema_version'"),
    "schema_version 'abc'": _sql("UPDATE meta SET value='abc' WHERE key='schema_version'"),
    "schema_version missing": _sql("DELETE FROM meta WHERE key='schema_version'"),
    "config not JSON": _sql("UPDATE trials SET config='{not json'"),
    "foreign SQLite database": _replace(b"sqlite"),
    "text file": _replace(b"this is not a database\n" * 200),
    "folder in its place": _replace(None),
}


#: where exit 0 is right too: ``run`` skips the trials that are done without reading their config
ALSO_OK = {("config not JSON", "run")}


def _last_page(path: Path) -> None:
    size = path.stat().st_size
    _overwrite(size - 4096, 4096)(path)


DAMAGES["last page overwritten"] = _last_page


def campaign_damaged(work: Path, study: Path, pristine: Path) -> Tally:
    """Each damaged copy of a finished store: ``results`` and ``run`` exit 2 with one line."""
    tally = Tally("damaged stores")
    for name, damage in DAMAGES.items():
        out = work / "damaged"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir()
        shutil.copy(pristine, out / "lrlab.sqlite")
        damage(out / "lrlab.sqlite")
        for command in (["results", str(out)], ["run", str(study), "--out", str(out), "--quiet"]):
            try:
                p = lrlab(*command, timeout=120)
                ok = p.returncode == 2 and one_error_line(p.stderr)
                ok = ok or (p.returncode == 0 and (name, command[0]) in ALSO_OK)
                got, code = p.stderr, p.returncode
            except subprocess.TimeoutExpired:
                ok, got, code = False, "timed out after 120 s", None
            last = (got.strip().splitlines() or [""])[-1][:200]
            tally.check(ok, f"{name}: lrlab {command[0]}: exit {code}: {last}")
    if os.geteuid() == 0:
        tally.notes.append(
            "read-only store not tried: running as root, file modes are not enforced"
        )
    else:
        tally = _read_only(work, study, pristine, tally)
    return tally


def _read_only(work: Path, study: Path, pristine: Path, tally: Tally) -> Tally:
    out = work / "readonly"
    out.mkdir()
    shutil.copy(pristine, out / "lrlab.sqlite")
    (out / "lrlab.sqlite").chmod(0o444)
    out.chmod(0o555)
    try:
        p = lrlab("run", str(study), "--out", str(out), "--quiet", timeout=120)
        tally.check(
            p.returncode == 2 and one_error_line(p.stderr),
            f"read-only store: lrlab run: exit {p.returncode}: {p.stderr[-200:]}",
        )
        p = lrlab("results", str(out), timeout=120)
        tally.check(
            p.returncode == 0 or (p.returncode == 2 and one_error_line(p.stderr)),
            f"read-only store: lrlab results: exit {p.returncode}: {p.stderr[-200:]}",
        )
    finally:
        out.chmod(0o755)
    return tally


# -- the campaign ----------------------------------------------------------------------------------
def commit() -> str:
    """The short commit hash, with ``+changes`` when the work tree differs from it."""

    def git(*a: str) -> str:
        return subprocess.run(["git", *a], capture_output=True, text=True, cwd=ROOT).stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    return head + ("+changes" if git("status", "--porcelain", "--untracked-files=no") else "")


def table(tallies: list[Tally], args: argparse.Namespace, head: str) -> str:
    """The summary, as Markdown: one row per category, then every failure."""
    today = datetime.date.today().isoformat()
    lines = [
        f"lrlab reliability campaign, {today}, commit {head}, Python "
        f"{sys.version.split()[0]}, {os.cpu_count()} CPUs, seed {args.seed}",
        "",
        "| category | checks | passed | failed | notes |",
        "|---|---:|---:|---:|---|",
    ]
    for t in tallies:
        lines.append(
            f"| {t.name} | {t.passed + t.failed} | {t.passed} | {t.failed} | {'; '.join(t.notes)} |"
        )
    failures = [f"- {t.name}: {f}" for t in tallies for f in t.failures]
    if failures:
        lines += ["", "Failures:", *failures]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the chosen categories and print the summary; exit 1 if any check failed."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kills", type=int, default=6, help="kill-and-resume rounds (default 6)")
    ap.add_argument("--writers", type=int, default=3, help="two-writer rounds (default 3)")
    ap.add_argument("--fuzz-examples", type=int, default=200, help="examples per fuzz test")
    ap.add_argument("--seed", type=int, default=0, help="seeds kill moments and the fuzzer")
    ap.add_argument("--only", default=",".join(CATEGORIES), help="comma-separated categories")
    ap.add_argument("--workdir", default=None, help="keep the stores here (default: a temp dir)")
    args = ap.parse_args(argv)
    chosen = [c.strip() for c in args.only.split(",") if c.strip()]
    for c in chosen:
        if c not in CATEGORIES:
            ap.error(f"--only: unknown category {c!r} (known: {', '.join(CATEGORIES)})")
    for flag in ("kills", "writers", "fuzz_examples"):
        if getattr(args, flag) < 1:
            ap.error(f"--{flag.replace('_', '-')}: must be >= 1, got {getattr(args, flag)}")
    head = commit()  # at the start: the code the campaign ran, whatever lands meanwhile
    work = Path(args.workdir or tempfile.mkdtemp(prefix="lrlab-reliability-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        tallies = run_campaign(work, chosen, args)
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    print(table(tallies, args, head))
    return 1 if any(t.failed for t in tallies) else 0


def run_campaign(work: Path, chosen: list[str], args: argparse.Namespace) -> list[Tally]:
    """The uninterrupted reference run, then each chosen category."""
    rng = random.Random(args.seed)
    studies = []
    for name in ("reliability", "reliability_b"):
        studies.append(work / f"{name}.toml")
        studies[-1].write_text(STUDY.format(name=name))
    tallies = []
    ref_out = work / "reference"
    t0 = time.perf_counter()
    p = lrlab("run", str(studies[0]), "--out", str(ref_out), "--max-members", "2", "--quiet")
    seconds = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"the reference run failed (exit {p.returncode}):\n{p.stderr}")
    ref = snapshot(ref_out / "lrlab.sqlite")
    print(f"reference run: {len(ref)} trials in {seconds:.1f} s", file=sys.stderr)
    if "kill" in chosen:
        tallies.append(campaign_kill(work, studies[0], ref, seconds, args.kills, rng))
    if "writers" in chosen:
        tallies.append(campaign_writers(work, (studies[0], studies[1]), ref, args.writers))
    if "fuzz" in chosen:
        tallies.append(campaign_fuzz(work, args.fuzz_examples, args.seed))
    if "damaged" in chosen:
        tallies.append(campaign_damaged(work, studies[0], ref_out / "lrlab.sqlite"))
    return tallies


if __name__ == "__main__":
    sys.exit(main())
