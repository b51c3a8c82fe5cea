"""The ``lrlab`` commands that work on studies and their stores: ``run``, ``demo``, ``results``,
``report`` and ``export`` (their parsers and what they do); ``find`` is in ``_cli_find``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path
from typing import Any

from ._cli_base import ProgressDisplay, UsageError, positive
from ._cli_find import add_find, has_matplotlib
from .report import printable

#: the metrics ``lrlab results --sort`` accepts
SORT_METRICS = (
    "val_accuracy",
    "val_loss",
    "accuracy",
    "loss",
    "best_val_accuracy",
    "best_val_loss",
)


def _store_file(path: str) -> Path:
    """``DIR/lrlab.sqlite`` for a folder, or the file itself."""
    p = Path(path)
    return p if p.is_file() else p / "lrlab.sqlite"


def cmd_run(args: argparse.Namespace) -> int:
    """Run (or resume) a study file into ``--out DIR`` and print its summary table."""
    from .lab.spec import SpecError, Study

    try:
        study = Study.from_toml(args.study, allow_import=args.allow_import)
    except SpecError as exc:
        raise UsageError(str(exc)) from None
    return _run_study(study, args)


def cmd_demo(args: argparse.Namespace) -> int:
    """Run a classic experiment shipped with lrlab, print its summary and save its figures."""
    from . import demos
    from .lab.spec import SpecError, Study

    if args.list:
        for name in demos.names():
            study = Study.from_toml(demos.path(name))
            mark = " (default)" if name == demos.DEFAULT else ""
            print(f"{name}{mark}: {study.raw.get('description', '')}")
        return 0
    try:
        path = demos.path(args.name)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.export:
        target = Path(args.export)
        if target.exists():
            raise UsageError(f"--export: {args.export} exists already")
        try:
            target.write_text(path.read_text())
        except OSError as exc:
            raise UsageError(f"--export: cannot write {args.export}: {exc.strerror}") from None
        print(printable(f"wrote {target}; run it with: lrlab run {target} --out DIR"))
        return 0
    study = Study.from_toml(path)
    if args.epochs is not None:
        try:
            study = study.override({"train.epochs": args.epochs})
        except SpecError as exc:
            raise UsageError(str(exc)) from None
    if args.out is None:  # lrlab's own default: its parent is made too
        args.out = str(Path("lrlab-demo") / args.name)
        try:
            Path("lrlab-demo").mkdir(exist_ok=True)
        except OSError as exc:
            raise UsageError(f"--out: cannot make lrlab-demo: {exc.strerror}") from None
    return _run_study(study, args)


def _write_report(store: Any, study: str, out: Path, *, figures: bool = True) -> None:
    """Figures (PNG and SVG) in ``out/figures`` and the HTML report in ``out/report``."""
    from .report import study_figures, write_report

    if figures and not has_matplotlib():
        print("no figures: they need matplotlib: pip install 'lrlab[plot]'", file=sys.stderr)
        figures = False
    target = out / "figures"
    try:
        written = []
        if figures:
            target.mkdir(exist_ok=True)
            written = study_figures(store, study, target)
        page = write_report(store, study, out / "report", figures=figures)
    except OSError as exc:
        raise UsageError(f"--out: cannot write in {out}: {exc.strerror}") from None
    if written:
        print(printable(f"figures: {target} ({len(written)} files)"))
    others = [s["name"] for s in store.studies() if s["name"] != study]
    also = f" (study {study}; the store also holds {', '.join(others)})" if others else ""
    print(printable(f"report: {page}{also}"))


def _results_folder(out: Path) -> Path:
    """Check ``--out DIR`` of ``lrlab run``/``demo``: a folder, or a new one in an existing
    folder (only ``DIR`` itself is created, so a typo in a parent is not a tree of folders)."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out: {out} exists and is not a folder")
    parent = out.absolute().parent
    if not out.exists() and not parent.is_dir():
        raise UsageError(
            f"--out: the folder {parent} does not exist (lrlab makes the folder {out.name} "
            "only inside one that exists)"
        )
    return out / "lrlab.sqlite"


def _executor(args: argparse.Namespace) -> Any:
    """The executor ``--executor`` names (``None``: in this process)."""
    if getattr(args, "executor", "local") != "ray":
        if getattr(args, "address", None) is not None:
            raise UsageError("--address: only with --executor ray")
        return None
    from .lab.executors import RayExecutor

    try:
        import ray  # noqa: F401
    except ImportError:
        raise UsageError("--executor ray needs Ray: pip install 'lrlab[ray]'") from None
    return RayExecutor(args.address, num_gpus=1 if (args.device or "").startswith("cuda") else 0)


def _native_note(store: Any, study: str, device: str) -> str | None:
    """One line where the study trained on the CPU a network the native engine would have
    taken (``engine="auto"``: an MLP of at most ``NATIVE_AUTO_PARAMS`` parameters in float32)
    and the engine is not available here, saying why and what to install; else ``None``, and
    not where ``LRLAB_NO_NATIVE`` turned it off on purpose."""
    if device.split(":")[0] != "cpu" or os.environ.get("LRLAB_NO_NATIVE"):
        return None
    from .lab.engine import NATIVE_AUTO_PARAMS, native_fits, native_status
    from .lab.models import MLP

    done = next((r["config"] for r in store.records(study) if r["status"] == "done"), None)
    if done is None or done["model"].get("type", "mlp") != "mlp":
        return None
    net = MLP.from_dict(done["model"])
    if native_fits(net, done["train"].get("dtype", "float32")) or net.n_params > NATIVE_AUTO_PARAMS:
        return None
    status = native_status()
    if status == "available":
        return None
    return (
        "note: lrlab's native engine, several times faster for small MLPs on the CPU, is not "
        f"available here: {status}"
    )


def _run_study(study: Any, args: argparse.Namespace) -> int:
    from .lab.spec import SpecError
    from .lab.store import Store, StoreError
    from .lab.study import run_study

    path = _results_folder(Path(args.out))
    executor = _executor(args)
    try:  # the study is checked before the store (and its folder) is created
        with ProgressDisplay(study.name, args.quiet) as progress:
            summary = run_study(
                study,
                path,
                executor,
                progress=progress,
                max_members=args.max_members,
                device=args.device,
            )
    except (SpecError, StoreError) as exc:
        raise UsageError(str(exc)) from None
    except KeyboardInterrupt:
        try:
            with Store(path, readonly=True) as store:
                c = store.counts(study.name)
            stored = f"{c['done']} of {c['trials']} trials are stored in {path}"
        except StoreError:
            stored = f"the trials finished before are stored in {path}"
        print(
            printable(f"lrlab: interrupted: {stored}; run the same command again to resume"),
            file=sys.stderr,
        )
        return 130
    print(
        printable(
            f"study {summary.study}: {summary.trials} trials ({summary.ran} run now, "
            f"{summary.skipped} already done, {summary.failed} failed) in "
            f"{summary.seconds:.1f} s; results in {path}"
        )
    )
    for line in (summary.dropped_line(), summary.weights_line()):
        if line is not None:
            print(printable(line))
    print(summary.table())  # its cells are escaped by the table itself
    if not args.quiet and summary.ran > 0:
        with Store(path, readonly=True) as store:
            note = _native_note(store, study.name, args.device or study.device)
        if note is not None:
            print(printable(note), file=sys.stderr)
    if not args.no_report and summary.ran + summary.skipped > 0:
        try:
            with Store(path, readonly=True) as store:
                _write_report(store, study.name, Path(args.out))
        except KeyboardInterrupt:
            stopped = "interrupted while writing the figures and the report"
            out = shlex.quote(args.out)
            again = f"the trials are stored in {path}; lrlab report {out} writes them"
            print(printable(f"lrlab: {stopped}: {again}"), file=sys.stderr)
            return 130
    return 1 if summary.failed else 0


def cmd_results(args: argparse.Namespace) -> int:
    """Print the results stored in a folder (or store file) as a table, CSV or JSON."""
    from .lab.store import Store, StoreError

    path = _store_file(args.dir)
    try:
        store = Store(path, readonly=True)
    except StoreError as exc:
        hint = f" (lrlab run STUDY.toml --out {args.dir} writes one)"
        raise UsageError(f"{exc}{hint if not path.exists() else ''}") from None
    try:
        with store:
            _print_results(store, path, args)
    except StoreError as exc:
        raise UsageError(str(exc)) from None
    return 0


def _print_results(store: Any, path: Path, args: argparse.Namespace) -> None:
    from .lab.store import flatten, write_csv
    from .lab.summary import study_results

    names = [s["name"] for s in store.studies()]
    if args.study is not None and args.study not in names:
        raise UsageError(
            f"--study: no study {args.study!r} in {path}; stored: {', '.join(names) or 'none'}"
        )
    chosen = [args.study] if args.study is not None else names
    records = [r for n in chosen for r in store.records(n)]
    if args.sort is not None:
        col = args.sort if args.sort.startswith("best_") else f"final_{args.sort}"
        sign = 1.0 if "loss" in args.sort else -1.0
        records.sort(key=lambda r: (r[col] is None, sign * (r[col] or 0.0)))
    if args.format == "json":
        print(json.dumps(records, indent=1))
    elif args.format == "csv":
        write_csv([flatten(r) for r in records], sys.stdout)
    else:
        if not chosen:
            print(printable(f"no studies in {path}"))
        for n in chosen:
            c = store.counts(n)
            print(
                printable(
                    f"study {n}: {c['done']} of {c['trials']} trials done, {c['failed']} "
                    f"failed, {c['pending']} pending"
                )
            )
            print(study_results(store, n, sort=args.sort).table())  # cells escaped


def cmd_report(args: argparse.Namespace) -> int:
    """Rebuild the figures and the HTML report of a results folder from its store."""
    from .lab.store import Store, StoreError

    path = _store_file(args.dir)
    try:
        with Store(path, readonly=True) as store:
            study = _one_study(store, path, args.study)
            _write_report(store, study, path.parent, figures=not args.no_figures)
    except StoreError as exc:
        raise UsageError(str(exc)) from None
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Write a stored study's trials as CSV, JSON or TensorBoard runs."""
    from .lab.store import Store, StoreError
    from .report import export_csv, export_json, export_tensorboard

    if args.csv is None and args.json is None and args.tensorboard is None:
        raise UsageError("export: give --csv FILE, --json FILE or --tensorboard LOGDIR")
    path = _store_file(args.dir)
    try:
        with Store(path, readonly=True) as store:
            study = _one_study(store, path, args.study)
            if args.tensorboard is not None:
                logdir = Path(args.tensorboard)
                if not logdir.absolute().parent.is_dir():
                    raise UsageError(
                        f"--tensorboard: the folder {logdir.absolute().parent} does not exist"
                    )
                try:
                    runs = export_tensorboard(store, study, logdir)
                except ImportError as exc:
                    raise UsageError(str(exc)) from None
                print(
                    printable(
                        f"tensorboard: {len(runs)} runs in {logdir}; view them with: "
                        f"tensorboard --logdir {logdir}"
                    )
                )
            for target, write in ((args.csv, export_csv), (args.json, export_json)):
                if target is None:
                    continue
                if not Path(target).absolute().parent.is_dir():
                    raise UsageError(f"--csv/--json: the folder of {target} does not exist")
                print(printable(f"wrote {write(store, study, target)}"))
    except StoreError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"cannot write: {exc.filename}: {exc.strerror}") from None
    return 0


def _one_study(store: Any, path: Path, study: str | None) -> str:
    """The study ``--study`` names, or the store's only one."""
    names = [s["name"] for s in store.studies()]
    if study is not None and study not in names:
        raise UsageError(
            f"--study: no study {study!r} in {path}; stored: {', '.join(names) or 'none'}"
        )
    if study is None and len(names) != 1:
        if not names:
            raise UsageError(f"no studies in {path}")
        raise UsageError(
            f"--study: {path} holds {len(names)} studies; name one: {', '.join(names)}"
        )
    return study if study is not None else names[0]


def _add_run(sub: Any) -> None:
    run = sub.add_parser(
        "run",
        help="run (or resume) a study file and print its summary",
        description="Train every trial of a study file (see docs/studies.md) that is not done "
        "yet, storing results in DIR/lrlab.sqlite, print the results aggregated over seeds "
        "(means with 95%% confidence intervals) and write DIR/figures and "
        "DIR/report/index.html.",
    )
    run.add_argument("study", metavar="STUDY.toml", help="the study file")
    run.add_argument("--out", required=True, metavar="DIR", help="folder of the results store")
    run.add_argument(
        "--max-members",
        type=positive,
        default=None,
        metavar="N",
        help="most trials trained at once in one cohort (default: sized to fit memory)",
    )
    run.add_argument(
        "--device",
        default=None,
        help="train on this device (cpu, cuda, ...) instead of the study's train.device",
    )
    run.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    run.add_argument(
        "--executor",
        choices=("local", "ray"),
        default="local",
        help="where cohorts train: in this process (local) or as Ray tasks (ray)",
    )
    run.add_argument(
        "--address",
        default=None,
        metavar="ADDR",
        help="with --executor ray: the cluster to join (default: start Ray on this machine)",
    )
    run.add_argument(
        "--allow-import",
        action="store_true",
        help="let schedules name functions as 'module:function' (imports, so runs, that code)",
    )
    run.add_argument(
        "--no-report",
        action="store_true",
        help="write no figures (DIR/figures) and no HTML report (DIR/report/index.html)",
    )
    run.set_defaults(func=cmd_run)


def _add_demo(sub: Any) -> None:
    demo = sub.add_parser(
        "demo",
        help="run a classic learning-rate experiment shipped with lrlab",
        description="Run one of the classic experiments (default: the eight-learning-rate "
        "study on the blobs problem), print its summary and write its figures (DIR/figures) "
        "and HTML report (DIR/report/index.html) next to its results store.",
    )
    demo.add_argument(
        "name", nargs="?", default="blobs_lr", help="which demo (see --list; default blobs_lr)"
    )
    demo.add_argument(
        "--out", default=None, metavar="DIR", help="results folder (default lrlab-demo/NAME)"
    )
    demo.add_argument("--epochs", type=positive, default=None, help="override the demo's epochs")
    demo.add_argument("--list", action="store_true", help="list the demos and exit")
    demo.add_argument(
        "--export", metavar="FILE", default=None, help="write the demo's study file and exit"
    )
    demo.add_argument(
        "--no-report",
        "--no-plots",
        dest="no_report",
        action="store_true",
        help="write no figures and no HTML report",
    )
    demo.add_argument(
        "--max-members",
        type=positive,
        default=None,
        metavar="N",
        help="most trials trained at once in one cohort (default: sized to fit memory)",
    )
    demo.add_argument("--device", default=None, help="train on this device (cpu, cuda, ...)")
    demo.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    demo.set_defaults(func=cmd_demo)


def _add_results(sub: Any) -> None:
    results = sub.add_parser(
        "results",
        help="print the results stored by lrlab run",
        description="Print stored results: a table aggregated over seeds (best first), or one "
        "row per trial as CSV or JSON.",
    )
    results.add_argument(
        "dir", metavar="DIR", help="the --out folder of lrlab run (or the lrlab.sqlite file)"
    )
    results.add_argument(
        "--format",
        choices=("table", "csv", "json"),
        default="table",
        help="table (aggregated over seeds), csv or json (one row per trial)",
    )
    results.add_argument(
        "--sort",
        choices=SORT_METRICS,
        default=None,
        help="sort by this metric (losses ascending, accuracies descending)",
    )
    results.add_argument("--study", default=None, help="only this study (default: all)")
    results.set_defaults(func=cmd_results)


def _add_report(sub: Any) -> None:
    report = sub.add_parser(
        "report",
        help="rebuild the figures and the HTML report of a results folder",
        description="Write DIR/figures (PNG and SVG) and DIR/report/index.html (one "
        "self-contained page: summary with 95%% confidence intervals, figures, study file, "
        "trials) from the store in DIR, as lrlab run does after a run.",
    )
    report.add_argument(
        "dir", metavar="DIR", help="the --out folder of lrlab run (or the lrlab.sqlite file)"
    )
    report.add_argument("--study", default=None, help="which study (needed if DIR holds several)")
    report.add_argument("--no-figures", action="store_true", help="the report without figures")
    report.set_defaults(func=cmd_report)


def _add_export(sub: Any) -> None:
    export = sub.add_parser(
        "export",
        help="write a stored study's trials as CSV, JSON or TensorBoard runs",
        description="Write the trials of a study in DIR's store for other tools: --csv and "
        "--json one row per trial (as lrlab results --format csv/json), --tensorboard one "
        "TensorBoard run per trial with its loss, accuracy and learning rate per epoch.",
    )
    export.add_argument(
        "dir", metavar="DIR", help="the --out folder of lrlab run (or the lrlab.sqlite file)"
    )
    export.add_argument("--study", default=None, help="which study (needed if DIR holds several)")
    export.add_argument("--csv", metavar="FILE", default=None, help="write the trials as CSV")
    export.add_argument("--json", metavar="FILE", default=None, help="write the trials as JSON")
    export.add_argument(
        "--tensorboard",
        metavar="LOGDIR",
        default=None,
        help="write TensorBoard event files, one run per trial (needs lrlab[tensorboard])",
    )
    export.set_defaults(func=cmd_export)


def add_study_commands(sub: Any) -> None:
    """Add the study commands to the ``lrlab`` parser's subcommands."""
    _add_run(sub)
    _add_demo(sub)
    _add_results(sub)
    _add_report(sub)
    add_find(sub)
    _add_export(sub)
