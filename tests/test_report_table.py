"""The terminal table and the escaping of user text: what ``lrlab run`` and ``lrlab results``
print."""

from __future__ import annotations

import pytest

from lrlab.cli import main
from lrlab.lab.store import Store
from lrlab.report import format_value, printable, render_table, summary_table


def test_printable_escapes_every_control_character():
    assert printable("plain text, ± é 😀") == "plain text, ± é 😀"
    assert printable("\x1b[2J") == "\\x1b[2J"
    assert printable("a\nb\tc\rd\x00\x7f\x9b") == "a\\x0ab\\x09c\\x0dd\\x00\\x7f\\x9b"
    assert printable("\u202eevil\u2028") == "\\u202eevil\\u2028"
    assert printable(3) == "3"


def test_table_cells_are_escaped_and_aligned():
    text = render_table(["#", "name"], [["1", "\x1b[31mred"], ["2", "b"]])
    assert "\x1b" not in text
    assert text.splitlines() == ["#  name", "1  \\x1b[31mred", "2  b"]
    assert format_value(["a\x07"]) == '["a\\u0007"]'  # JSON escapes it first


def row(group: str, label: object, seeds: int, diverged: int, acc: float | None) -> dict:
    return {
        "group": group,
        "name": label,
        "seeds": seeds,
        "diverged": diverged,
        "stopped": 0,
        "final_val_accuracy_mean": acc,
        "final_val_accuracy_std": None,
    }


def test_summary_table_counts_diverged_trials():
    text = summary_table([row("a", "x", 2, 0, 0.9), row("b", "y", 3, 3, None)])
    lines = text.splitlines()
    assert lines[1].split() == ["1", "x", "2", "0.9000", "0/2"]
    assert lines[2].split() == ["-", "y", "3", "-", "3/3"]  # all diverged: no rank
    assert lines[-1] == (
        "3 of 5 trials diverged: no final metrics, left out of the means and the ranking"
    )
    assert "diverged:" not in summary_table([row("a", "x", 2, 0, 0.9)])
    assert summary_table([]) == "no finished trials"


class T:
    """The duck type :meth:`Store.register_study` reads."""

    def __init__(self, tid: str, name: str) -> None:
        self.id, self.group = tid, "g"
        self.config, self.vars = {"seed": 0, "data": {"path": name}}, {}


@pytest.mark.parametrize("fmt", ["table", "csv", "json"])
def test_results_escape_names_from_the_store(tmp_path, capsys, fmt):
    """A study name or config value holding ESC sequences cannot drive the terminal."""
    evil = "evil\x1b[2J\x1b[31m"
    with Store(tmp_path / "lrlab.sqlite") as store:
        store.register_study(evil, {}, [T("a", evil), T("b", "fine")])
        for tid, name in (("a", evil), ("b", "fine")):
            store.write_trials(
                [
                    {
                        "id": tid,
                        "config": {"seed": 0, "data": {"path": name}},
                        "config_group": tid,
                        "seed": 0,
                        "status": "done",
                        "final_val_accuracy": 0.5,
                    }
                ]
            )
    assert main(["results", str(tmp_path), "--format", fmt]) == 0
    out = capsys.readouterr().out
    if fmt == "csv":  # data for a program, kept as it is (CSV quotes it)
        assert evil in out
    else:
        assert "\x1b" not in out and "evil\\" in out
    assert main(["results", str(tmp_path), "--study", "nope"]) == 2
    err = capsys.readouterr().err
    assert "\x1b" not in err and "evil\\x1b[2J" in err and err.count("\n") == 1
