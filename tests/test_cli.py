"""The ``lrlab`` command: outputs, exit codes and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from lrlab.cli import main

WARMUP_COSINE = "warmup(cosine(init=0.1, decay_steps=900), steps=100)"


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.startswith("lrlab ")


def test_show_prints_summary(capsys):
    assert main(["schedule", "show", WARMUP_COSINE, "--steps", "1000"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == WARMUP_COSINE
    assert "max               0.1 at step 100" in out


def test_show_prints_how_it_reads_a_preset_or_positional_arguments(capsys):
    assert main(["schedule", "show", "warmup_cosine(0.1, 100, 1000)", "--steps", "1000"]) == 0
    first, second, *_ = capsys.readouterr().out.splitlines()
    assert first == "warmup_cosine(0.1, 100, 1000)"
    assert second == "= warmup(cosine(init=0.1, decay_steps=900, end=0.0), steps=100)"
    assert main(["schedule", "show", "cosine(0.1, 10)", "--steps", "10"]) == 0
    assert capsys.readouterr().out.splitlines()[1] == "= cosine(init=0.1, decay_steps=10)"


def test_show_writes_plot(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    target = tmp_path / "s.png"
    assert main(["schedule", "show", WARMUP_COSINE, "--steps", "200", "--plot", str(target)]) == 0
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert capsys.readouterr().out.splitlines()[-1] == f"wrote {target}"


def test_values_csv(capsys):
    assert (
        main(["schedule", "values", "step_decay(init=0.1, drop=0.5, every=2)", "--steps", "5"]) == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["step,lr", "0,0.1", "1,0.1", "2,0.05", "3,0.05", "4,0.025"]


def test_values_json_every(capsys):
    args = ["schedule", "values", "linear(init=1.0, end=0.0, steps=10)", "--steps", "10"]
    assert main([*args, "--every", "5", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data == {
        "schedule": "linear(init=1.0, end=0.0, steps=10)",
        "step": [0, 5],
        "lr": [1.0, 0.5],
    }


def test_lint_strict_exit_code(capsys):
    text = "keras2_decay(lr=0.1, decay=0.002)"
    args = ["schedule", "lint", text, "--steps", "450", "--steps-per-epoch", "9"]
    assert main(args) == 0
    assert main([*args, "--strict"]) == 1
    assert "keras2-decay-per-epoch" in capsys.readouterr().out
    assert main(["schedule", "lint", "constant(0.1)", "--steps", "10", "--strict"]) == 0


def test_plot_several(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    target = tmp_path / "two.svg"
    args = ["schedule", "plot", "constant(0.1)", "cosine(init=0.1, decay_steps=50)"]
    assert main([*args, "--steps", "50", "-o", str(target)]) == 0
    assert target.read_text().count("<svg") == 1


def test_names_lists_families(capsys):
    assert main(["schedule", "names"]) == 0
    names = capsys.readouterr().out.split()
    assert {"cosine", "one_cycle", "warmup", "join", "keras2_decay"} <= set(names)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["schedule", "show", "cosine(init=0.1, decay_steps=-1)", "--steps", "5"],
            "lrlab: error: schedule: column 18: cosine: decay_steps must be > 0, got -1",
        ),
        (
            ["schedule", "show", "cosin(init=0.1)", "--steps", "5"],
            "lrlab: error: schedule: column 1: unknown schedule 'cosin' (did you mean 'cosine'?)",
        ),
        (
            ["schedule", "plot", "constant(0.1)", "--steps", "5", "-o", "x.gif"],
            "lrlab: error: --plot/--output must end in .png, .svg or .pdf, got 'x.gif'",
        ),
    ],
)
def test_bad_input_is_one_line_exit_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.strip() == message


@pytest.mark.parametrize(
    "argv",
    [
        ["schedule", "values", "constant(0.1)", "--steps", "0"],
        ["schedule", "values", "constant(0.1)", "--steps", "ten"],
        ["schedule", "values", "constant(0.1)"],
        ["nonsense"],
    ],
)
def test_bad_arguments_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("lrlab: error: ")
    assert err.count("\n") == 1, err


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        # a misspelled option is named, not the required one it kept from being given
        (
            ["run", "study.toml", "--ouput", "x"],
            "lrlab: error: run: unrecognized arguments: --ouput (did you mean --out?)",
        ),
        (
            ["run", "study.toml", "--out", "o", "--ouput", "x"],
            "lrlab: error: run: unrecognized arguments: --ouput x (did you mean --out?)",
        ),
        (
            ["schedul", "show", "constant(0.1)"],
            "lrlab: error: unknown command 'schedul'; did you mean 'schedule'? (commands: "
            "schedule, run, demo, results, report, find, export)",
        ),
        (
            ["schedule", "shw", "constant(0.1)"],
            "lrlab: error: schedule: unknown action 'shw'; did you mean 'show'? (actions: show, "
            "values, lint, plot, names)",
        ),
        (["--bogus"], "lrlab: error: unrecognized arguments: --bogus"),
        # an unambiguous prefix is argparse's to accept, and what follows -- is no option
        (
            ["run", "--ou", "x"],
            "lrlab: error: run: the following arguments are required: STUDY.toml",
        ),
        (
            ["run", "--", "--x.toml"],
            "lrlab: error: run: the following arguments are required: --out",
        ),
        (["run"], "lrlab: error: run: the following arguments are required: STUDY.toml, --out"),
    ],
)
def test_usage_errors_name_what_was_mistyped(argv, line, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert capsys.readouterr().err == line + "\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["demo", "--export", "/nonexistent/dir/x.toml"], "--export: cannot write"),
        (
            ["schedule", "plot", "constant(1.0)", "--steps", "5", "-o", "/proc/y.png"],
            "--plot/--output: cannot write /proc/y.png",
        ),
        (
            ["schedule", "plot", "constant(1.0)", "--steps", "5", "-o", "/nonexistent/dir/y.png"],
            "--plot/--output: the folder /nonexistent/dir does not exist",
        ),
        (
            ["schedule", "show", "constant(1.0)", "--steps", "5", "--plot", "/proc/x/y.png"],
            "--plot/--output: the folder /proc/x does not exist",
        ),
        (["run", "/nonexistent.toml", "--out", "/tmp/x"], "/nonexistent.toml: no such file"),
    ],
)
def test_unwritable_or_missing_paths_are_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("lrlab: error: ") and message in err and err.count("\n") == 1


def test_missing_action_prints_help(capsys):
    assert main(["schedule"]) == 2
    assert "ACTION" in capsys.readouterr().err


def test_python_dash_m_runs_the_cli():
    out = subprocess.run(
        [sys.executable, "-m", "lrlab", "schedule", "values", "constant(0.5)", "--steps", "1"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.splitlines() == ["step,lr", "0,0.5"]


def test_a_plot_into_a_missing_folder_creates_nothing(tmp_path, capsys):
    target = tmp_path / "new" / "deeper" / "m.png"
    argv = ["schedule", "plot", "constant(0.1)", "--steps", "10", "-o", str(target)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err == f"lrlab: error: --plot/--output: the folder {target.parent} does not exist\n"
    assert not (tmp_path / "new").exists()


def test_errors_escape_control_characters(tmp_path, capsys):
    """An error that echoes user text prints it with its control characters escaped."""
    target = tmp_path / "a\x1b[2Jb" / "m.png"
    argv = ["schedule", "plot", "constant(0.1)", "--steps", "10", "-o", str(target)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "\x1b" not in err and "a\\x1b[2Jb" in err and err.count("\n") == 1
