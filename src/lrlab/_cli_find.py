"""``lrlab find``: the learning-rate range test of an MLP from the command line (its parser
and what it does).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ._cli_base import UsageError, positive, rate
from .report import printable


def has_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401  (the figures' only requirement beyond NumPy)
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.split(".")[0] != "matplotlib":
            raise
        return False
    return True


def _find_setup(args: argparse.Namespace) -> tuple[Any, Any, Any, int, str]:
    """The dataset, model, optimizer, batch size and a name for ``lrlab find``: from a study
    file's first trial, or from the flags (through the same study checks)."""
    from .lab.models import MLP
    from .lab.optim import optimizer_from_config
    from .lab.spec import Study

    try:
        if args.study is not None:
            study = Study.from_toml(args.study)
        else:
            try:
                hidden = [int(h) for h in args.hidden.split(",") if h.strip()]
            except ValueError:
                raise UsageError(
                    f"--hidden: the hidden widths as whole numbers separated by commas "
                    f"(e.g. 50,20), got {args.hidden!r}"
                ) from None
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
    except ValueError as exc:  # (SpecError: the study's field and value)
        raise UsageError(str(exc)) from None
    net = MLP.from_dict(config["model"])
    hyper = {k: v for k, v in config["optimizer"].items() if k != "name"}
    opt = optimizer_from_config(config["optimizer"]["name"], **hyper)
    batch = args.batch_size or config["train"]["batch_size"]
    return data, net, opt, batch, study.name


def _finder_text(result: Any) -> str:
    """The range test's result for the terminal: every rule's suggestion side by side (one
    run's, or the medians and spreads of repeated runs) and the recommended window."""
    from .finder import RepeatedResult

    if isinstance(result, RepeatedResult):
        return RepeatedResult.__repr__(result)  # (not a subclass's hint to print .validation)
    found = result.suggest()
    lines = [repr(result), repr(found)]
    if found.window is not None:
        lines.append(f"window: {found.window.lo:.3g} .. {found.window.hi:.3g}")
    return "\n".join(lines)


def cmd_find(args: argparse.Namespace) -> int:
    """The learning-rate range test of an MLP on a dataset: every rule side by side."""
    from .lab.range_test import find_lr

    if args.study is not None and (args.hidden != "50" or args.momentum is not None):
        raise UsageError(
            "--study: the study file gives the model and optimizer; drop --hidden/--momentum"
        )
    target = None if args.plot is None else Path(args.plot)
    if target is not None:  # (checked before the test runs)
        if target.suffix.lower() not in {".png", ".svg", ".pdf"}:
            raise UsageError(f"--plot must end in .png, .svg or .pdf, got {args.plot!r}")
        if not target.absolute().parent.is_dir():
            raise UsageError(f"--plot: the folder {target.absolute().parent} does not exist")
        if target.is_dir():
            raise UsageError(f"--plot: {args.plot} is a folder")
        if not has_matplotlib():
            raise UsageError("--plot needs matplotlib: pip install 'lrlab[plot]'")
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
    print(_finder_text(result))
    validation = getattr(result, "validation", None)
    if validation is not None:
        print(validation)
    if target is not None:
        try:
            result.plot(title=f"{name}: learning-rate range test").savefig(target, dpi=120)
        except OSError as exc:
            raise UsageError(f"--plot: cannot write {args.plot}: {exc.strerror}") from None
        print(printable(f"plot: {target}"))
    return 0


def add_find(sub: Any) -> None:
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
        type=positive,
        default=None,
        help="rows per step (default: the study's, else 32)",
    )
    find.add_argument(
        "--start-lr", type=rate, default=1e-7, help="first rate of the ramp (default 1e-7)"
    )
    find.add_argument(
        "--end-lr", type=rate, default=10.0, help="last rate of the ramp (default 10)"
    )
    find.add_argument("--steps", type=positive, default=100, help="steps of the ramp (default 100)")
    find.add_argument(
        "--mode", choices=("exp", "linear"), default="exp", help="exponential or linear ramp"
    )
    find.add_argument("--repeats", type=positive, default=1, help="runs on seeds 0, 1, ... at once")
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
