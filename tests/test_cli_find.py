"""lrlab find: the range test from the command line, from flags or a study file."""

from __future__ import annotations

import pytest

from lrlab.cli import main

STUDY = """
name = "iono"
seeds = [0]
schedule = "constant(0.1)"
[data]
name = "ionosphere"
standardize = true
[model]
hidden = [16]
[optimizer]
name = "sgd"
momentum = 0.9
[train]
epochs = 5
batch_size = 28
"""


def test_flags_print_every_rule(capsys):
    assert main(["find", "--data", "blobs", "--steps", "60", "--repeats", "2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("range test: find blobs, MLP(n_inputs=2, hidden=(50,), n_outputs=3")
    assert "RepeatedResult(2 runs, seeds [0, 1])" in out
    for rule in ("steepest", "valley", "minimum_div10", "half_divergence"):
        assert f"\n{rule} " in out


def test_one_run_prints_every_rule_and_the_window(capsys):
    assert main(["find", "--data", "blobs", "--steps", "60"]) == 0
    out = capsys.readouterr().out
    assert "FinderResult(steps=60/60" in out
    assert "\nrule                    lr  index  flags\n" in out
    for rule in ("steepest", "valley", "minimum_div10", "half_divergence"):
        assert f"\n{rule} " in out
    assert "\nwindow: " in out


def test_the_plot_s_folder_is_checked_before_the_test_runs(tmp_path, monkeypatch, capsys):
    from lrlab.lab import range_test

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("the range test ran")

    monkeypatch.setattr(range_test, "find_lr", never)
    assert main(["find", "--plot", "/nonexistent/d/x.png"]) == 2
    assert "--plot: the folder /nonexistent/d does not exist" in capsys.readouterr().err
    folder = tmp_path / "a.png"
    folder.mkdir()
    assert main(["find", "--plot", str(folder)]) == 2
    assert f"--plot: {folder} is a folder" in capsys.readouterr().err


def test_a_study_file_gives_data_model_and_optimizer(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    f = tmp_path / "iono.toml"
    f.write_text(STUDY)
    plot = tmp_path / "lr.png"
    argv = ["find", "--study", str(f), "--steps", "80", "--validate", "--plot", str(plot)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "range test: iono, MLP(n_inputs=34, hidden=(16,), n_outputs=1" in out
    assert "SGD(momentum=0.9" in out and "batch 28" in out
    assert "validation: 3 rates around" in out and "print .validation" not in out
    assert plot.read_bytes()[:4] == b"\x89PNG" and f"plot: {plot}" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--data", "nope"], "data.name: must be one of"),
        (
            ["--hidden", "50,x"],
            "--hidden: the hidden widths as whole numbers separated by commas (e.g. 50,20), "
            "got '50,x'",
        ),
        (["--plot", "x.gif"], "--plot must end in .png, .svg or .pdf"),
        (["--plot", "/nonexistent/d/x.png"], "--plot: the folder /nonexistent/d does not exist"),
        (["--start-lr", "1", "--end-lr", "0.1"], "start_lr"),
    ],
)
def test_bad_input_is_one_line(argv, message, capsys):
    assert main(["find", "--steps", "20", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lrlab: error: ") and message in err and err.count("\n") == 1


def test_a_bad_rate_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["find", "--start-lr", "-1"])
    assert stop.value.code == 2
    assert "must be a finite number > 0, got '-1'" in capsys.readouterr().err
