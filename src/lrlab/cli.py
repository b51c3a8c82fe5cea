"""The ``lrlab`` command line: a thin layer that parses arguments, calls the library and prints.

Every command is documented in ``docs/cli.md``; ``tests/test_docs.py`` fails when a command
lacks help text or documentation. Errors in the user's input print one line,
``lrlab: error: ...``, and exit with status 2.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from . import __version__
from ._cli_base import UsageError as UsageError
from ._cli_base import positive as _positive
from ._cli_studies import add_study_commands
from .report import printable
from .schedules import Schedule, describe, known_names, lint, parse


def _schedule(text: str) -> Schedule:
    try:
        return parse(text)
    except ValueError as exc:
        raise UsageError(f"schedule: {str(exc).splitlines()[0]}") from None


def cmd_schedule_show(args: argparse.Namespace) -> int:
    """Print the schedule as written and, where it reads otherwise (a preset, arguments by
    position, defaults), as lrlab reads it; its summary, its warnings and (optionally) a
    plot."""
    s = _schedule(args.schedule)
    written = args.schedule.strip()
    print(printable(written))
    if repr(s) != written:
        print(f"= {s!r}")
    print(describe(s, args.steps))
    warnings = lint(s, args.steps, args.steps_per_epoch)
    for w in warnings:
        print(f"warning: {w}")
    if args.plot:
        _save_plot(s, args.steps, args.plot, args.log)
        print(printable(f"wrote {args.plot}"))
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
    """argparse, but a usage error is one line, ``lrlab: error: ...``, and exit status 2; an
    unknown option is named before a missing required one (``--ouput`` is why ``--out`` is
    missing), and a misspelled option or command gets its nearest known spelling."""

    _seen: list[str]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.options: set[str] = set()  # every option string, as add_argument is told them
        super().__init__(*args, **kwargs)
        self.set_defaults(parser_of=self)  # a subcommand's own parser wins: see main()

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:  # type: ignore[override]
        action = super().add_argument(*args, **kwargs)
        self.options.update(action.option_strings)
        return action

    def add_subparsers(self, **kwargs: Any) -> Any:
        self.commands = super().add_subparsers(**kwargs)  # (its choices: the command names)
        return self.commands

    def _unknown_options(self, tokens: Sequence[str]) -> list[str]:
        """The ``--options`` among ``tokens`` (up to a ``--``) that name no option of this
        parser, not even as the unambiguous prefix argparse accepts."""
        out = []
        for token in tokens:
            if token == "--":
                break
            name = token.split("=")[0]
            if token.startswith("--") and not any(o.startswith(name) for o in self.options):
                out.append(token)
        return out

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        self._seen = list(sys.argv[1:] if args is None else args)  # (read by error())
        return super().parse_known_args(args, namespace)

    def unknown(self, extras: Sequence[str]) -> str:
        """``unrecognized arguments: ...``, with the nearest option to the first unknown one."""
        message = f"unrecognized arguments: {' '.join(extras)}"
        options = sorted(o for o in self.options if o.startswith("--"))
        first = next((e.split("=")[0] for e in extras if e.startswith("-")), None)
        bare = {o.lstrip("-"): o for o in options}  # (the dashes would make any two alike)
        close = difflib.get_close_matches(first.lstrip("-"), bare, n=1) if first else []
        return message + (f" (did you mean {bare[close[0]]}?)" if close else "")

    def error(self, message: str) -> NoReturn:
        if message.startswith("the following arguments are required"):
            extras = self._unknown_options(getattr(self, "_seen", []))
            if extras:
                message = self.unknown(extras)
        # (the names from the parser itself: how argparse quotes them varies by version)
        choice = re.match(r"argument ([A-Z]+): invalid choice: '?([^', ]*)", message)
        commands = getattr(self, "commands", None)
        if choice and commands is not None:
            kind, given = choice.group(1).lower(), choice.group(2)
            names = list(commands.choices)
            close = difflib.get_close_matches(given, names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            message = f"unknown {kind} {given!r}{hint} ({kind}s: {', '.join(names)})"
        name = self.prog.removeprefix("lrlab").strip()
        self.exit(2, f"lrlab: error: {name + ': ' if name else ''}{message}\n")


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

    add_study_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``lrlab`` command; returns the exit status."""
    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    if extras:  # named by the command they were given to, with the nearest known option
        owner = getattr(args, "parser_of", parser)  # the innermost command's parser
        owner.error(owner.unknown(extras))
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
