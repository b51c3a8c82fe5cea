"""Study specs: validation messages (field path + value), expansion counts, stable ids."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys

import pytest

from lrlab.lab.spec import SpecError, Study, Trial, canonical_json, config_id

BASE = {
    "data": {"name": "blobs"},
    "model": {"hidden": [8]},
    "train": {"epochs": 2, "batch_size": 32},
    "optimizer": {"name": "sgd"},
    "schedule": "constant({lr})",
    "grid": {"lr": [0.1]},
}


def spec(**changes):
    d = copy.deepcopy(BASE)
    for k, v in changes.items():
        if v is None:
            d.pop(k, None)
        else:
            d[k] = v
    return d


def error_of(d) -> str:
    with pytest.raises(SpecError) as exc:
        Study.from_dict(d).trials()
    return str(exc.value)


# -- validation: every message names the field path and the bad value ----------------------------
ERRORS = [
    (
        spec(grid={"lr": [0.1], "optimizer.momentum": [0.0, 0.5, 1.5]}),
        'grid."optimizer.momentum"[2]: must be in [0, 1), got 1.5',
    ),
    (spec(optimizer={"name": "sgd", "momentum": -0.1}), "optimizer.momentum: must be in [0, 1)"),
    (spec(optimizer={"name": "adma"}), "optimizer.name: unknown optimizer 'adma'; did you mean"),
    (
        spec(optimizer={"name": "sgd", "momentun": 0.9}),
        "optimizer.momentun: unknown hyperparameter",
    ),
    (
        spec(optimizer={"name": "sgd", "lr": 0.1}),
        "optimizer.lr: 'lr' is not an optimizer hyperparameter here",
    ),
    (
        spec(optimizer={"name": "sgd", "momentum": [0.1, 0.2]}),
        "optimizer.momentum: must be one value per trial, got the list [0.1, 0.2]",
    ),
    (
        spec(
            optimizer={"name": "sgd", "momentum": 0.9},
            grid={"lr": [0.1], "optimizer.name": ["sgd", "adam"]},
        ),
        "optimizer.momentum: unknown hyperparameter 'momentum'",
    ),
    (spec(optimizer={"name": "adam", "eps": -1.0}), "optimizer.eps: must be in [0, inf), got -1.0"),
    (spec(model={"hidden": [8, 0]}), "model.hidden[1]: must be an integer >= 1, got 0"),
    (
        spec(model={"hidden": [8], "activaton": "relu"}),
        "model.activaton: unknown model field; did you mean 'activation'?",
    ),
    (
        spec(model={"hidden": [8], "activation": "gelu"}),
        "model.activation: must be one of 'relu', 'tanh', 'sigmoid', 'linear', got 'gelu'",
    ),
    (spec(model={"activation": "relu"}), "model.hidden: missing"),
    (
        spec(model={"hidden": [8], "output": "sigmoid"}),
        "model.output: 'sigmoid' needs binary data; 'blobs' has 3 classes",
    ),
    (
        spec(model={"hidden": [8], "output": "linear"}),
        "model.output: 'linear' (mean squared error) needs regression data",
    ),
    (
        spec(train={"epochs": 0, "batch_size": 32}),
        "train.epochs: must be an integer from 1 to 10000000, got 0",
    ),
    (spec(train={"epochs": 2}), "train.batch_size: missing"),
    (
        spec(train={"epochs": 2, "batch_size": 32, "dtype": "float16"}),
        "train.dtype: must be one of 'float32', 'float64', got 'float16'",
    ),
    (
        spec(train={"epochs": 2, "batch_size": 32, "eval_train": "yes"}),
        "train.eval_train: must be true or false, got 'yes'",
    ),
    (spec(data={"name": "blobz"}), "data.name: must be one of 'blobs', "),
    (spec(data={"standardize": True}), "data.name: missing"),
    (
        spec(data={"name": "blobs", "n_sample": 10}),
        "data.n_sample: unknown argument of the 'blobs' loader; did you mean 'n_samples'?",
    ),
    (
        spec(data={"name": "blobs", "n_samples": -3}),
        "data.n_samples: must be an integer >= 1, got -3",
    ),
    (
        spec(data={"name": "blobs", "standardize": 1}),
        "data.standardize: must be true or false, got 1",
    ),
    (spec(plateau={"patience": -1}), "plateau.patience: must be an integer >= 0, got -1"),
    (
        spec(plateau={"monitor": "val_acc"}),
        "plateau.monitor: must be one of 'loss', 'accuracy', 'val_loss', 'val_accuracy', got "
        "'val_acc'; did you mean 'val_accuracy'?",
    ),
    (spec(plateau={"factr": 0.5}), "plateau.factr: unknown Plateau field; did you mean 'factor'?"),
    (
        spec(grid={"lr": [0.1], "plateau.patience": [1, 2, -2]}),
        'grid."plateau.patience"[2]: must be an integer >= 0, got -2',
    ),
    (
        spec(early_stopping={"patience": 1.5}),
        "early_stopping.patience: must be an integer >= 0, got 1.5",
    ),
    (
        spec(schedule="cosin(init={lr}, decay_steps=10)"),
        "schedule: column 1: unknown schedule 'cosin' (did you mean 'cosine'?)",
    ),
    (spec(schedule="constant({lr}"), "schedule: column 9: invalid syntax"),
    (
        spec(schedule="cosine(init={lr}, decay_steps={total_step})"),
        "schedule: unknown placeholder {total_step} in",
    ),
    (spec(schedule=None), "schedule: missing"),
    (spec(schedule="cosine(init={lr}, decay_steps={total_steps} - 1)"), "schedule: "),
    (
        spec(grid={"lr": [0.1], "schedule": ["constant({lr})", "linear(init={lr})"]}),
        "grid.schedule[1]: ",
    ),
    (spec(grid={"lrr": [0.1]}), "schedule: unknown placeholder {lr}"),
    (
        spec(grid={"lr": [0.1], "momentum": [0.5]}),
        "grid.momentum: variable 'momentum' is not used by the schedule; to sweep a field, "
        'write its path, e.g. "optimizer.momentum"',
    ),
    (spec(grid={"lr": []}), "grid.lr: must be a non-empty list of values, got []"),
    (spec(grid={"lr": 0.1}), "grid.lr: must be a non-empty list of values, got 0.1"),
    (spec(grid={"lr": [0.1, float("nan")]}), "grid.lr[1]: must be a finite number, got nan"),
    (spec(grid={"lr": [0.1, [0.2]]}), "grid.lr[1]: must be a number, string or boolean, got [0.2]"),
    (spec(grid={"lr": [0.1], "seed": [1, 2]}), "grid.seed: seeds are not swept here"),
    (
        spec(grid={"lr": [0.1], "optimizer": ["adam"]}),
        "grid.optimizer[0]: must be a table (e.g. {name = \"sgd\"}), got 'adam'",
    ),
    (
        spec(grid={"lr": [0.1], "model": [{"hidden": [4]}]}),
        "grid.model: a whole table cannot be swept",
    ),
    (
        spec(grid={"lr": [0.1], "optimiser.momentum": [0.5]}),
        "grid.\"optimiser.momentum\": unknown section 'optimiser'; did you mean 'optimizer'?",
    ),
    (
        spec(grid={"lr": [0.1], "train.device": ["cpu"]}),
        'grid."train.device": the device cannot be swept',
    ),
    (
        spec(grid={"lr": [0.1], "steps_per_epoch": [1]}),
        "grid.steps_per_epoch: 'steps_per_epoch' is computed",
    ),
    (spec(grid={"lr": [0.1]}, zip=[{"lr": [0.2]}]), "zip[0].lr: 'lr' is already swept by grid.lr"),
    (
        spec(grid={}, zip=[{"lr": [0.1, 0.2], "schedule": ["constant({lr})"]}]),
        "zip[0]: lists must have the same length, got {'lr': 2, 'schedule': 1}",
    ),
    (spec(zip={"lr": [0.1]}), "zip: must be a list of tables ([[zip]]), got {'lr': [0.1]}"),
    (spec(seeds=[0, 0]), "seeds[1]: repeats seed 0"),
    (spec(seeds=[0, -1]), "seeds[1]: must be an integer from 0 to 9223372036854775807, got -1"),
    (spec(seeds=[]), "seeds: must be a non-empty list of integers, got []"),
    (
        spec(vars={"lr": [0.1]}, grid=None),
        "vars.lr: must be a number, string or boolean, got [0.1]",
    ),
    (spec(vars={"total_steps": 3}), "vars.total_steps: 'total_steps' is computed"),
    (spec(modle={"hidden": [8]}), "modle: unknown top-level field; did you mean 'model'?"),
    (spec(train=None), "train: missing; the study needs a [train] table"),
    (spec(train=[1, 2]), "train: must be a table, got [1, 2]"),
    (
        spec(train={"epochs": 2, "batch_size": 32, "keep": "bestest"}),
        "train.keep: must be one of 'best', 'final', 'none', got 'bestest'; did you mean 'best'?",
    ),
    (
        spec(train={"epochs": 2, "batch_size": 32, "keep": True}),
        "train.keep: must be one of 'best', 'final', 'none', got True",
    ),
    (
        spec(early_stopping={"restore_best_weights": "yes"}),
        "early_stopping.restore_best_weights: must be true or false, got 'yes'",
    ),
    (
        spec(grid={"lr": [0.1], "early_stopping.restore_best_weights": [True, 1]}),
        'grid."early_stopping.restore_best_weights"[1]: must be true or false, got 1',
    ),
    (spec(grid={"lr": [0.1, "0.01"]}), "grid.lr[1]: must be a number, got the text '0.01'"),
    (spec(grid={"lr": ["1e-2", 0.1]}), "grid.lr[0]: must be a number, got the text '1e-2'"),
    (spec(grid={"lr": [0.1, False]}), "grid.lr[1]: must be a number like grid.lr[0] (0.1)"),
    (spec(grid={"lr": ["nan", 0.1]}), "grid.lr[0]: must be a number, got the text 'nan': a finite"),
]


@pytest.mark.parametrize(("d", "message"), ERRORS, ids=[m.split(":")[0] for _, m in ERRORS])
def test_validation_messages_name_path_and_value(d, message):
    assert error_of(d).startswith(message)


def test_error_from_a_swept_optimizer_name_says_where_the_name_came_from():
    msg = error_of(ERRORS[6][0])
    assert msg.endswith("""(optimizer.name = 'adam' from grid."optimizer.name"[1])""")


def test_errors_are_one_line():
    for d, _ in ERRORS:
        assert "\n" not in error_of(d)


def test_monitor_that_the_data_lacks():
    d = spec(plateau={"monitor": "val_loss"}, data={"name": "blobs", "n_train": 1000})
    assert error_of(d) == "plateau.monitor: 'val_loss' needs a test split, and 'blobs' has none"


# -- files ---------------------------------------------------------------------------------------
def test_from_toml(tmp_path):
    p = tmp_path / "my_study.toml"
    p.write_text(
        'schedule = "constant({lr})"\nseeds = [0, 1]\n[data]\nname = "blobs"\n'
        "[model]\nhidden = [8]\n[train]\nepochs = 1\nbatch_size = 64\n"
        '[grid]\nlr = [0.1, 0.01]\n"optimizer.momentum" = [0.0, 0.9]\n'
    )
    study = Study.from_toml(p)
    assert study.name == "my_study"
    assert len(study.trials()) == 8


def test_toml_errors(tmp_path):
    with pytest.raises(SpecError, match=r"nope\.toml: no such file"):
        Study.from_toml(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[data\nname = 1\n")
    with pytest.raises(SpecError, match=r"bad\.toml: invalid TOML: .*line 1"):
        Study.from_toml(bad)


# -- expansion -----------------------------------------------------------------------------------
def test_grid_zip_seed_counts():
    d = spec(
        grid={"lr": [1.0, 0.1, 0.01], "optimizer.momentum": [0.0, 0.5, 0.9]},
        zip=[{"train.batch_size": [16, 32], "model.hidden": [[4], [8]]}],
        seeds=[0, 1, 2],
    )
    study = Study.from_dict(d)
    trials = study.trials()
    assert study.n_trials == len(trials) == 3 * 3 * 2 * 3
    pairs = {(t.config["train"]["batch_size"], tuple(t.config["model"]["hidden"])) for t in trials}
    assert pairs == {(16, (4,)), (32, (8,))}  # zipped lists advance together
    assert len({t.id for t in trials}) == len(trials)
    assert len({t.group for t in trials}) == len(trials) // 3  # seeds repeat each config
    assert [t.seed for t in trials[:3]] == [0, 1, 2]  # seeds innermost


def test_two_zips_multiply():
    d = spec(
        grid={},
        zip=[{"lr": [0.1, 0.2], "train.epochs": [1, 2]}, {"optimizer.momentum": [0.0, 0.5, 0.9]}],
    )
    assert len(Study.from_dict(d).trials()) == 6


def test_identical_configs_appear_once():
    d = spec(grid={"lr": [0.1, 0.01], "schedule": ["constant({lr})", "constant(0.5)"]})
    trials = Study.from_dict(d).trials()
    assert [t.config["schedule"] for t in trials] == [
        "constant(0.1)",
        "constant(0.5)",
        "constant(0.01)",
    ]


def test_placeholders_are_filled_from_the_data():
    d = spec(
        schedule="cosine(init={lr}, decay_steps={total_steps})",
        train={"epochs": 3, "batch_size": 32},
    )
    t = Study.from_dict(d).trials()[0]
    # blobs: 500 training rows -> ceil(500 / 32) = 16 steps per epoch
    assert t.config["schedule"] == "cosine(init=0.1, decay_steps=48)"
    assert t.vars == {"lr": 0.1}
    assert t.schedule()(48) == 0.0


def test_vars_table_and_string_variables():
    d = spec(
        vars={"lr": 0.05}, grid={"decay": ["constant", "keras2_decay"]}, schedule="{decay}({lr})"
    )
    with pytest.raises(SpecError):  # keras2_decay needs decay=
        Study.from_dict(d).trials()
    d["grid"] = {"kind": ["cosine", "linear"]}
    d["schedule"] = "{kind}(init={lr}, {arg}={total_steps})"
    d["zip"] = [{"kind": ["cosine"], "arg": ["decay_steps"]}]
    with pytest.raises(SpecError, match="already swept"):
        Study.from_dict(d)
    d.pop("grid")
    trials = Study.from_dict(d).trials()
    assert trials[0].config["schedule"] == "cosine(init=0.05, decay_steps=32)"


def test_model_and_output_inferred_from_the_data():
    t = Study.from_dict(spec(data={"name": "ionosphere"})).trials()[0]
    assert t.config["model"] == {
        "type": "mlp",
        "n_inputs": 34,
        "hidden": [8],
        "n_outputs": 1,
        "activation": "relu",
        "output": "sigmoid",
        "init": "he_uniform",
    }
    t = Study.from_dict(
        spec(model={"hidden": [8], "output": "softmax"}, data={"name": "ionosphere"})
    ).trials()[0]
    assert t.config["model"]["n_outputs"] == 2


def test_monitor_sets_the_mode():
    t = Study.from_dict(
        spec(plateau={"monitor": "val_accuracy"}, early_stopping={"patience": 3})
    ).trials()[0]
    assert t.config["plateau"]["mode"] == "max"
    assert t.config["early_stopping"]["mode"] == "min"
    assert t.config["early_stopping"]["monitor"] == "val_loss"


def test_override():
    study = Study.from_dict(spec(grid={"lr": [1.0, 0.1], "optimizer.momentum": [0.0, 0.9]}))
    small = study.override(
        {"train.epochs": 1, "grid.optimizer.momentum": [0.5], "plateau.patience": 2}
    )
    trials = small.trials()
    assert len(trials) == 2
    assert {t.config["optimizer"]["momentum"] for t in trials} == {0.5}
    assert trials[0].config["train"]["epochs"] == 1
    assert trials[0].config["plateau"]["patience"] == 2
    assert study.raw["train"]["epochs"] == 2  # the original is unchanged
    assert small.override({"plateau": None}).trials()[0].config["plateau"] is None
    with pytest.raises(
        SpecError, match=r"train\.epochs: must be an integer from 1 to 10000000, got 0"
    ):
        study.override({"train.epochs": 0})


# -- ids -----------------------------------------------------------------------------------------
FROZEN = {
    "data": {"name": "blobs"},
    "model": {"hidden": [50]},
    "train": {"epochs": 200, "batch_size": 32},
    "optimizer": {"name": "sgd", "momentum": 0.9},
    "schedule": "constant(0.01)",
}
FROZEN_ID = "e08ff80e4f0391c2"
FROZEN_JSON = (
    '{"data":{"name":"blobs","standardize":false},"early_stopping":null,"model":{"activation":'
    '"relu","hidden":[50],"init":"he_uniform","n_inputs":2,"n_outputs":3,"output":"softmax",'
    '"type":"mlp"},"optimizer":{"dampening":0.0,"form":"torch","momentum":0.9,"name":"sgd",'
    '"nesterov":false,"weight_decay":0.0},"plateau":null,"schedule":"constant(0.01)","seed":0,'
    '"train":{"batch_order":"per_seed","batch_size":32,"data_seed":0,"dtype":"float32",'
    '"epochs":200,"eval_train":false,"shuffle":true}}'
)


def test_frozen_id():
    t = Study.from_dict(FROZEN).trials()[0]
    assert canonical_json(t.config) == FROZEN_JSON
    assert t.id == FROZEN_ID


def test_keep_and_restore_best_weights_enter_the_config_only_when_set():
    """Studies that keep no weights (and do not restore them) keep their configs and ids."""
    plain = Study.from_dict({**FROZEN, "early_stopping": {"patience": 3}}).trials()[0]
    assert "keep" not in plain.config["train"]
    assert "restore_best_weights" not in plain.config["early_stopping"]
    same = Study.from_dict(
        {
            **FROZEN,
            "train": {**FROZEN["train"], "keep": "none"},
            "early_stopping": {"patience": 3, "restore_best_weights": False},
        }
    ).trials()[0]
    assert same.id == plain.id
    kept = Study.from_dict(
        {
            **FROZEN,
            "train": {**FROZEN["train"], "keep": "best"},
            "early_stopping": {"patience": 3, "restore_best_weights": True},
        }
    ).trials()[0]
    assert kept.config["train"]["keep"] == "best"
    assert kept.config["early_stopping"]["restore_best_weights"] is True
    assert kept.id != plain.id  # a trial that keeps weights trains again to save them


def test_id_ignores_spelling_and_key_order():
    same = {
        "schedule": "constant(1e-2)",
        "optimizer": {"momentum": 0.90, "name": "SGD", "nesterov": False},
        "train": {"batch_size": 32, "epochs": 200, "device": "cpu", "dtype": "float32"},
        "model": {"init": "he_uniform", "hidden": 50},
        "data": {"name": "Blobs", "standardize": False},
        "seeds": [0],
    }
    assert Study.from_dict(same).trials()[0].id == FROZEN_ID


def test_id_changes_with_the_config():
    other = copy.deepcopy(FROZEN)
    other["optimizer"]["momentum"] = 0.5
    assert Study.from_dict(other).trials()[0].id != FROZEN_ID


def test_id_is_the_same_in_another_process():
    code = (
        "import json, sys; from lrlab.lab.spec import Study; "
        "print(Study.from_dict(json.loads(sys.argv[1])).trials()[0].id)"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", code, json.dumps(FROZEN)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == FROZEN_ID


def test_canonical_json_and_config_id():
    assert (
        canonical_json({"b": 1.0, "a": [0.1, -0.0, 1e-7, 3]}) == '{"a":[0.1,0.0,1e-07,3],"b":1.0}'
    )
    assert config_id({"a": 1}) == config_id({"a": 1})
    with pytest.raises(SpecError, match="must be a finite number"):
        canonical_json({"a": float("inf")})


def test_trial_is_hashable_and_plain_json():
    t = Study.from_dict(FROZEN).trials()[0]
    assert isinstance(t, Trial)
    assert {t: 1}[t] == 1
    assert json.loads(json.dumps(t.config)) == t.config


def test_a_negative_or_non_finite_learning_rate_is_refused():
    # the values that filled the schedule, each with the place it was written, then the rate
    msg = error_of(spec(grid={"lr": [0.1, -1.0]}))
    assert msg == (
        "schedule: lr = -1.0 (grid.lr[1]) gives the learning rate -1.0 at step 0 in "
        "constant(-1.0) (learning rates must be finite and >= 0)"
    )
    msg = error_of(spec(schedule=None, grid={"schedule": ["constant(0.1)", "constant(-0.5)"]}))
    assert msg.startswith("grid.schedule[1]: constant(-0.5) gives the learning rate -0.5")
    msg = error_of(
        spec(
            schedule="linear(init={lr}, end={end}, steps={total_steps})",
            grid={"lr": [0.1], "end": [0.0, -0.2]},
        )
    )
    assert msg.startswith(
        "schedule: lr = 0.1 (grid.lr[0]), end = -0.2 (grid.end[1]) gives the learning rate -"
    )
    assert "in linear(init=0.1, end=-0.2, steps=" in msg


# -- sections swept whole: each optimizer with its own hyperparameters -----------------------------
def test_an_optimizer_sweep_gives_each_optimizer_its_own_settings():
    s = Study.from_dict(
        spec(
            grid={
                "lr": [0.1],
                "optimizer": [{"name": "sgd", "momentum": 0.9}, {"name": "adam", "eps": 1e-7}],
            }
        )
    )
    opts = [t.config["optimizer"] for t in s.trials()]
    assert [(o["name"], o.get("momentum"), o.get("eps")) for o in opts] == [
        ("sgd", 0.9, None),
        ("adam", None, 1e-7),
    ]


def test_a_table_swept_whole_replaces_the_base_table():
    d = spec(grid={"lr": [0.1], "plateau": [{"patience": 2}, {"patience": 5, "factor": 0.5}]})
    d["plateau"] = {"patience": 9, "factor": 0.2}
    plateaus = [t.config["plateau"] for t in Study.from_dict(d).trials()]
    assert [(p["patience"], p["factor"]) for p in plateaus] == [(2, 0.1), (5, 0.5)]


def test_a_table_swept_whole_and_by_field_is_refused_and_errors_say_which_table():
    d = spec(grid={"lr": [0.1], "optimizer": [{"name": "sgd"}], "optimizer.momentum": [0.5]})
    assert error_of(d).startswith('grid."optimizer.momentum": optimizer is swept whole')
    d = spec(grid={"lr": [0.1], "optimizer": [{"name": "adam"}, {"name": "sgd", "eps": 1}]})
    assert error_of(d).startswith("grid.optimizer[1].eps: unknown hyperparameter 'eps'")


def test_a_swept_schedule_template_is_kept_with_the_trials_variables():
    """Results name and group configurations by the template as written, so lr x schedule
    gives one line per template over lr, not one per filled-in text."""
    templates = ["constant({lr})", "cosine(init={lr}, decay_steps={total_steps})"]
    trials = Study.from_dict(
        spec(schedule=None, grid={"lr": [0.1, 0.01], "schedule": templates})
    ).trials()
    assert {t.vars["schedule"] for t in trials} == set(templates)
    assert {t.config["schedule"] for t in trials} >= {"constant(0.1)", "constant(0.01)"}
    # a schedule that is not swept stays out of the variables
    assert all("schedule" not in t.vars for t in Study.from_dict(spec()).trials())
