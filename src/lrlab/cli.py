"""The ``lrlab`` command line: a thin layer that parses arguments, calls the library and prints.

Every command is documented in ``docs/cli.md``; ``tests/test_docs.py`` fails when a command
lacks help text or documentation. Errors in the user's input print one line,
``lrlab: error: ...``, and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from . import __version__
from .report import printable
from .schedules import Schedule, describe, known_names, lint, parse


class UsageError(Exception):
    """Bad input from the user: reported as one line with exit status 2."""


def _schedule(text: str) -> Schedule:
    try:
        return parse(text)
    except ValueError as exc:
        raise UsageError(f"schedule: {str(exc).splitlines()[0]}") from None


def _positive(value: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {value!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value!r}")
    return n


def cmd_schedule_show(args: argparse.Namespace) -> int:
    """Print a schedule's summary, its warnings and (optionally) a plot."""
    s = _schedule(args.schedule)
    print(repr(s))
    print(describe(s, args.steps))
    warnings = lint(s, args.steps, args.steps_per_epoch)
    for w in warnings:
        print(f"warning: {w}")
    if args.plot:
        _save_plot(s, args.steps, args.plot, args.log)
    return 0


def cmd_schedule_values(args: argparse.Namespace) -> int:
    """Print the learning rate at steps ``0, every, 2*every, ... < steps`` as CSV or JSON."""
    s = _schedule(args.schedule)
    steps = np.arange(0, args.steps, args.every)
    lrs = np.asarray(s(steps.astype(np.float64)), dtype=np.float64)
    if args.format == "json":
        print(json.dumps({"schedule": repr(s), "step": steps.tolist(), "lr": lrs.tolist()}))
    else:
        print("step,lr")
        for k, v in zip(steps.tolist(), lrs.tolist()):
            print(f"{k},{v!r}")
    return 0


def cmd_schedule_lint(args: argparse.Namespace) -> int:
    """Print a schedule's warnings; exit 1 with ``--strict`` when there are any."""
    s = _schedule(args.schedule)
    warnings = lint(s, args.steps, args.steps_per_epoch)
    for w in warnings:
        print(w)
    if not warnings:
        print("no warnings")
    return 1 if warnings and args.strict else 0


def cmd_schedule_plot(args: argparse.Namespace) -> int:
    """Save a plot of one or more schedules to PNG/SVG/PDF."""
    schedules = {text: _schedule(text) for text in args.schedule}
    _save_plot(schedules, args.steps, args.output, args.log)
    print(printable(f"wrote {args.output}"))
    return 0


def cmd_schedule_names(args: argparse.Namespace) -> int:
    """List the names the schedule text form can call."""
    for name in known_names():
        print(name)
    return 0


# -- studies -------------------------------------------------------------------------------------
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


def _has_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401  (the figures' only requirement beyond NumPy)
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.split(".")[0] != "matplotlib":
            raise
        return False
    return True


def _write_report(store: Any, study: str, out: Path, *, figures: bool = True) -> None:
    """Figures (PNG and SVG) in ``out/figures`` and the HTML report in ``out/report``."""
    from .report import study_figures, write_report

    if figures and not _has_matplotlib():
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
    print(printable(f"report: {page}"))


def _results_folder(out: Path) -> Path:
    """Check ``--out DIR`` of ``lrlab run``/``demo``: a folder, or a new one in an existing
    folder (only ``DIR`` itself is created, so a typo in a parent is not a tree of folders)."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out: {out} exists and is not a folder")
    parent = out.absolute().parent
    if not out.exists() and not parent.is_dir():
        raise UsageError(
            f"--out: the folder {parent} does not exist (lrlab makes {out.name} in a folder that "
            "exists)"
        )
    return out / "lrlab.sqlite"


class _Progress:
    """The progress of ``lrlab run`` on stderr: a bar (trials done, the cohort and its epoch,
    elapsed and remaining time) on a terminal when rich is installed, else one line per cohort;
    nothing with ``--quiet``. Use it as a context manager: the bar is closed on Ctrl-C too."""

    def __init__(self, name: str, quiet: bool) -> None:
        self.name, self.quiet = name, quiet
        self.bar: Any = None
        self.task: Any = None
        if quiet or not sys.stderr.isatty():
            return
        try:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
        except ImportError:
            return
        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[trials]}"),
            TextColumn("{task.fields[where]}"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[left]}"),
            console=Console(stderr=True),
            transient=False,
        )

    def __enter__(self) -> _Progress:
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def __call__(self, p: Any) -> None:
        from .report import progress_line

        if self.quiet:
            return
        if self.bar is None:
            if p.epoch == 0:  # plain lines: one per cohort
                print(progress_line(self.name, p), file=sys.stderr)
            return
        left = "" if p.remaining is None else f"~{p.remaining:.0f} s left"
        fields = {
            "trials": f"{p.done}/{p.total} trials",
            "where": f"cohort {min(p.cohorts_done + 1, p.cohorts)}/{p.cohorts}"
            + (f", epoch {p.epoch}/{p.epochs}" if p.epoch else ""),
            "left": left,
        }
        if self.task is None:
            self.task = self.bar.add_task(printable(self.name), total=1.0, **fields)
        self.bar.update(self.task, completed=p.fraction, **fields)
        if p.epoch == 0 and p.error:
            self.bar.console.print(progress_line(self.name, p))


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


def _run_study(study: Any, args: argparse.Namespace) -> int:
    from .lab.spec import SpecError
    from .lab.store import Store, StoreError
    from .lab.study import run_study

    path = _results_folder(Path(args.out))
    executor = _executor(args)
    try:  # the study is checked before the store (and its folder) is created
        with _Progress(study.name, args.quiet) as progress:
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
    print(summary.table())  # its cells are escaped by the table itself
    if not args.no_report and summary.ran + summary.skipped > 0:
        with Store(path, readonly=True) as store:
            _write_report(store, study.name, Path(args.out))
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


def _rate(value: str) -> float:
    """argparse type: a finite number > 0."""
    try:
        x = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {value!r}") from None
    if not (x > 0 and x < float("inf")):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {value!r}")
    return x


def _find_setup(args: argparse.Namespace) -> tuple[Any, Any, Any, int, str]:
    """The dataset, model, optimizer, batch size and a name for ``lrlab find``: from a study
    file's first trial, or from the flags (through the same study checks)."""
    from .lab.models import MLP
    from .lab.optim import optimizer_from_config
    from .lab.spec import SpecError, Study

    try:
        if args.study is not None:
            study = Study.from_toml(args.study)
        else:
            hidden = [int(h) for h in args.hidden.split(",") if h.strip()]
            optimizer: dict[str, Any] = {"name": args.optimizer}
            if args.momentum is not None:
                optimizer["momentum"] = args.momentum
            study = Study.from_dict(
                {
                    "name": f"find {args.data}",
                    "data": {"name": args.data, "standardize": args.standardize},
                    "model": {"hidden": hidden},
                    "optimizer": optimizer,
                    "train": {"epochs": 1, "batch_size": args.batch_size or 32},
                    "schedule": "constant(0.1)",
                }
            )
        config = study.trials()[0].config
        data = study.dataset(config["data"])
    except ValueError as exc:  # SpecError, and a bad --hidden
        text = str(exc) if isinstance(exc, SpecError) else f"--hidden: {exc}"
        raise UsageError(text) from None
    model = {k: v for k, v in config["model"].items() if k != "type"}
    net = MLP(**{**model, "hidden": tuple(model["hidden"])})
    hyper = {k: v for k, v in config["optimizer"].items() if k != "name"}
    opt = optimizer_from_config(config["optimizer"]["name"], **hyper)
    batch = args.batch_size or config["train"]["batch_size"]
    return data, net, opt, batch, study.name


def cmd_find(args: argparse.Namespace) -> int:
    """The learning-rate range test of an MLP on a dataset: every rule side by side."""
    from .finder.lab import find_lr

    if args.study is not None and (args.hidden != "50" or args.momentum is not None):
        raise UsageError(
            "--study: the study file gives the model and optimizer; drop --hidden/--momentum"
        )
    data, net, opt, batch, name = _find_setup(args)
    try:
        result = find_lr(
            data,
            net,
            opt,
            batch_size=batch,
            start_lr=args.start_lr,
            end_lr=args.end_lr,
            num_steps=args.steps,
            mode=args.mode,
            repeats=args.repeats,
            validate=args.validate,
            dtype="float64" if args.float64 else "float32",
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    print(printable(f"range test: {name}, {net!r}, {opt!r}, batch {batch}"))
    print(result)
    validation = getattr(result, "validation", None)
    if validation is not None:
        print(validation)
    if args.plot is not None:
        target = Path(args.plot)
        if target.suffix.lower() not in {".png", ".svg", ".pdf"}:
            raise UsageError(f"--plot must end in .png, .svg or .pdf, got {args.plot!r}")
        if not target.absolute().parent.is_dir():
            raise UsageError(f"--plot: the folder {target.absolute().parent} does not exist")
        if not _has_matplotlib():
            raise UsageError("--plot needs matplotlib: pip install 'lrlab[plot]'")
        try:
            result.plot(title=name).savefig(target, dpi=120)
        except OSError as exc:
            raise UsageError(f"--plot: cannot write {args.plot}: {exc.strerror}") from None
        print(printable(f"plot: {target}"))
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


def _save_plot(schedules: Schedule | dict[str, Schedule], steps: int, path: str, log: bool) -> None:
    from .schedules import plot

    target = Path(path)
    if target.suffix.lower() not in {".png", ".svg", ".pdf"}:
        raise UsageError(f"--plot/--output must end in .png, .svg or .pdf, got {path!r}")
    folder = target.absolute().parent
    if not folder.is_dir():
        raise UsageError(f"--plot/--output: the folder {folder} does not exist")
    try:
        fig = plot(schedules, steps, log=log)
    except ImportError as exc:
        raise UsageError(str(exc)) from None
    try:
        fig.savefig(target, dpi=120)
    except OSError as exc:
        raise UsageError(f"--plot/--output: cannot write {path}: {exc.strerror}") from None


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line, ``lrlab: error: ...``, and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(
            2, f"lrlab: error: {self.prog.removeprefix('lrlab').strip() or 'usage'}: {message}\n"
        )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``lrlab`` command."""
    parser = _Parser(
        prog="lrlab",
        description="lrlab, the learning-rate lab: schedules, plateau control, studies.",
    )
    parser.add_argument("--version", action="version", version=f"lrlab {__version__}")
    parser.set_defaults(help_of=parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    sched = sub.add_parser(
        "schedule",
        help="inspect, lint, tabulate and plot a learning-rate schedule",
        description="Work with schedules written in lrlab's text form, e.g. "
        "'warmup(cosine(init=0.1, decay_steps=900), steps=100)'.",
    )
    sched.set_defaults(help_of=sched)
    ssub = sched.add_subparsers(dest="action", metavar="ACTION")

    def common(p: argparse.ArgumentParser, many: bool = False) -> None:
        if many:
            p.add_argument("schedule", nargs="+", help="one or more schedules in text form")
        else:
            p.add_argument("schedule", help="the schedule in text form")
        p.add_argument("--steps", type=_positive, required=True, help="number of steps (updates)")

    show = ssub.add_parser("show", help="summary numbers, warnings and an optional plot")
    common(show)
    show.add_argument(
        "--steps-per-epoch",
        type=_positive,
        default=None,
        help="updates per epoch (sharpens the Keras 2 decay check)",
    )
    show.add_argument("--plot", metavar="FILE", help="also save a plot (.png, .svg or .pdf)")
    show.add_argument("--log", action="store_true", help="logarithmic learning-rate axis")
    show.set_defaults(func=cmd_schedule_show)

    values = ssub.add_parser("values", help="the learning rate per step as CSV or JSON")
    common(values)
    values.add_argument(
        "--every", type=_positive, default=1, help="print every k-th step (default 1)"
    )
    values.add_argument("--format", choices=("csv", "json"), default="csv", help="output format")
    values.set_defaults(func=cmd_schedule_values)

    lint_p = ssub.add_parser("lint", help="check a schedule for common mistakes")
    common(lint_p)
    lint_p.add_argument(
        "--steps-per-epoch",
        type=_positive,
        default=None,
        help="updates per epoch (sharpens the Keras 2 decay check)",
    )
    lint_p.add_argument("--strict", action="store_true", help="exit 1 when there are warnings")
    lint_p.set_defaults(func=cmd_schedule_lint)

    plot_p = ssub.add_parser("plot", help="plot one or more schedules to a file")
    common(plot_p, many=True)
    plot_p.add_argument(
        "-o", "--output", required=True, metavar="FILE", help="output file (.png, .svg or .pdf)"
    )
    plot_p.add_argument("--log", action="store_true", help="logarithmic learning-rate axis")
    plot_p.set_defaults(func=cmd_schedule_plot)

    names = ssub.add_parser("names", help="list the names the schedule text form can call")
    names.set_defaults(func=cmd_schedule_names)

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
        type=_positive,
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
    demo.add_argument("--epochs", type=_positive, default=None, help="override the demo's epochs")
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
        type=_positive,
        default=None,
        metavar="N",
        help="most trials trained at once in one cohort (default: sized to fit memory)",
    )
    demo.add_argument("--device", default=None, help="train on this device (cpu, cuda, ...)")
    demo.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    demo.set_defaults(func=cmd_demo)

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

    find = sub.add_parser(
        "find",
        help="the learning-rate range test of an MLP, every suggestion rule side by side",
        description="Ramp the learning rate over --steps training steps of an MLP (the data, "
        "model and optimizer of a study file's first trial, or given by flags), stop when the "
        "loss diverges, and print what every suggestion rule makes of the curve, with the flags "
        "that say when not to trust it. --repeats runs several seeds at once and reports the "
        "spread; --validate trains a few rates around the suggestion to check it.",
    )
    find.add_argument(
        "--study",
        metavar="STUDY.toml",
        default=None,
        help="take data, model, optimizer and batch size from this study file",
    )
    find.add_argument(
        "--data", default="blobs", help="a built-in dataset (default blobs; see docs/data.md)"
    )
    find.add_argument("--standardize", action="store_true", help="standardize the inputs")
    find.add_argument("--hidden", default="50", help="hidden widths, comma-separated (default 50)")
    find.add_argument(
        "--optimizer", default="sgd", help="sgd, adam, adamw, rmsprop, adagrad or adadelta"
    )
    find.add_argument("--momentum", type=float, default=None, help="the optimizer's momentum")
    find.add_argument(
        "--batch-size",
        type=_positive,
        default=None,
        help="rows per step (default: the study's, else 32)",
    )
    find.add_argument(
        "--start-lr", type=_rate, default=1e-7, help="first rate of the ramp (default 1e-7)"
    )
    find.add_argument(
        "--end-lr", type=_rate, default=10.0, help="last rate of the ramp (default 10)"
    )
    find.add_argument(
        "--steps", type=_positive, default=100, help="steps of the ramp (default 100)"
    )
    find.add_argument(
        "--mode", choices=("exp", "linear"), default="exp", help="exponential or linear ramp"
    )
    find.add_argument(
        "--repeats", type=_positive, default=1, help="runs on seeds 0, 1, ... at once"
    )
    find.add_argument(
        "--validate", action="store_true", help="train rates around the suggestion to check it"
    )
    find.add_argument("--float64", action="store_true", help="train in float64 (default float32)")
    find.add_argument(
        "--plot",
        metavar="FILE",
        default=None,
        help="save the loss curve with every rule marked (.png, .svg, .pdf)",
    )
    find.set_defaults(func=cmd_find)

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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``lrlab`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        args.help_of.print_help(sys.stderr)
        return 2
    try:
        return int(func(args))
    except UsageError as exc:
        print(f"lrlab: error: {printable(exc)}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:
        if exc.name != "torch":
            raise
        print("lrlab: error: this needs torch: pip install 'lrlab[torch]'", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("lrlab: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # pragma: no cover - e.g. `lrlab ... | head`
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
