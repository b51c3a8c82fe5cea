"""Tests for lrlab.keras.find_lr(..., validate=True): the translation of a Dense Keras model
and its optimizer to lrlab's population engine (checked against Keras' own fit on the same
initial weights), the validation table it returns, and every refusal, which comes before any
training."""

from __future__ import annotations

import dataclasses
import os
import re

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np
import pytest

keras = pytest.importorskip("keras")

import torch  # noqa: E402
from keras import ops  # noqa: E402

from lrlab.keras import find_lr  # noqa: E402
from lrlab.lab import optim as lo  # noqa: E402
from lrlab.lab.engine import Targets, TorchMLPKernel  # noqa: E402
from lrlab.lab.models import MLP  # noqa: E402
from lrlab.lab.validation import ValidatedRepeatedResult, ValidatedResult  # noqa: E402

# Keras' torch backend trips NumPy 2's __array__(copy=...) deprecation on every read of a variable.
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

FAST = {"num_steps": 30, "start_lr": 1e-4, "end_lr": 10.0, "validate_epochs": 2}


def _blobs(n=120, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, size=n)
    centres = np.array([[0.0, 2.0, 0.0, 0.0], [2.0, 0.0, 0.0, 1.0], [-2.0, -1.0, 1.0, 0.0]])
    x = (centres[y] + rng.normal(size=(n, 4))).astype("float32")
    return x, y


def _net(
    out_units=3,
    out_act="softmax",
    loss="sparse_categorical_crossentropy",
    opt=None,
    hidden=(8,),
    act="relu",
    dtype=None,
    **dense,
):
    keras.utils.set_random_seed(0)
    layers = [keras.Input((4,), dtype=dtype)]
    layers += [
        keras.layers.Dense(h, activation=act, dtype=dtype, name=f"h{i}", **dense)
        for i, h in enumerate(hidden)
    ]
    layers.append(
        keras.layers.Dense(out_units, activation=out_act, dtype=dtype, name="out", **dense)
    )
    model = keras.Sequential(layers)
    model.compile(optimizer=opt or keras.optimizers.SGD(0.01, momentum=0.9), loss=loss)
    return model


def _values(model):
    seen, out = set(), []
    for v in [*model.variables, *model.optimizer.variables]:
        if id(v) not in seen:
            seen.add(id(v))
            out.append((v.path, np.array(ops.convert_to_numpy(v.value), copy=True)))
    return out


def _plan(model, x, y, validation_data=None):
    from lrlab.integrations.keras._validate import KerasValidationPlan

    return KerasValidationPlan(model, x, y, validation_data, "valley", (1.0,), 1, 1, 0)


# -- validate=True --------------------------------------------------------------------------------
def test_validate_returns_the_candidates_on_the_test_split():
    x, y = _blobs()
    xv, yv = _blobs(60, seed=1)
    model = _net()
    before = _values(model)
    res = find_lr(model, x, y, batch_size=16, validation_data=(xv, yv), validate=True, **FAST)
    assert isinstance(res, ValidatedResult)
    v = res.validation
    assert [c.factor for c in v.candidates] == [1 / 3, 1.0, 3.0]
    assert v.center == res.suggest().valley.lr and v.around == "valley"
    assert [c.lr for c in v.candidates] == pytest.approx([v.center / 3, v.center, 3 * v.center])
    assert v.seeds == (0, 1, 2) and v.epochs == 2 and v.split == "test"
    assert v.batch_order == "per_seed"
    assert all(len(c.loss) == 3 and len(c.accuracy) == 3 for c in v.candidates)
    assert res.to_dict()["validation"]["best_lr"] == v.best_lr
    after = _values(model)  # the test and the validation leave the model as it was
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(before, after))


def test_validate_without_validation_data_uses_the_training_split_and_repeats():
    x, y = _blobs()
    onehot = np.eye(3, dtype="float32")[y]
    model = _net(loss="categorical_crossentropy", opt=keras.optimizers.Adam(1e-3))
    res = find_lr(
        model,
        x,
        onehot,
        batch_size=16,
        repeats=2,
        seed=5,
        validate=True,
        validate_around=0.01,
        validate_factors=(0.1, 1.0),
        validate_seeds=2,
        **FAST,
    )
    assert isinstance(res, ValidatedRepeatedResult)
    v = res.validation
    assert v.split == "train" and v.seeds == (5, 6) and v.around == "given"
    assert [c.lr for c in v.candidates] == pytest.approx([0.001, 0.01])


def test_validate_on_a_regression_and_a_binary_model():
    x, y = _blobs()
    reg = _net(1, "linear", "mse", hidden=(6, 5), act="tanh")
    target = x[:, :1] - x[:, 1:2]
    r = find_lr(reg, x, target, batch_size=16, validate=True, validate_seeds=[3], **FAST)
    assert r.validation.candidates[0].accuracy is None and r.validation.seeds == (3,)
    binary = _net(1, "sigmoid", keras.losses.BinaryCrossentropy(), act="sigmoid")
    b = find_lr(binary, x, (y == 0).astype("float32"), batch_size=16, validate=True, **FAST)
    assert len(b.validation.candidates[0].accuracy) == 3


def test_validate_arguments_are_checked_as_in_the_torch_adapter():
    x, y = _blobs()
    model = _net()
    with pytest.raises(ValueError, match="validate must be True or False, got 1"):
        find_lr(model, x, y, validate=1)
    with pytest.raises(ValueError, match="validate_epochs"):
        find_lr(model, x, y, validate=True, validate_epochs=0)
    with pytest.raises(ValueError, match="validate_factors"):
        find_lr(model, x, y, validate=True, validate_factors=())
    with pytest.raises(ValueError, match="validate_around"):
        find_lr(model, x, y, validate=True, validate_around="nope")


# -- the translation ------------------------------------------------------------------------------
def test_translation_of_a_functional_model():
    inp = keras.Input((4,))
    h = keras.layers.Dense(8, activation="tanh")(inp)
    h = keras.layers.Dense(6, activation="tanh")(h)
    out = keras.layers.Dense(3, activation="softmax")(h)
    model = keras.Model(inp, out)
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy")
    x, y = _blobs()
    plan = _plan(model, x, y[:, None])
    assert plan.model == MLP(4, (8, 6), 3, "tanh", "softmax", "glorot_uniform")
    assert plan.dtype == "float32"
    assert plan.optimizer == lo.RMSprop(alpha=0.9, eps=1e-7, form="keras")
    np.testing.assert_array_equal(plan.data.y_train, y)
    assert plan.data.x_test is None


@pytest.mark.parametrize(
    ("keras_opt", "lab_opt"),
    [
        (
            keras.optimizers.SGD(0.1, momentum=0.8, nesterov=True, weight_decay=0.01),
            lo.SGD(momentum=0.8, nesterov=True, weight_decay=0.01, form="keras"),
        ),
        (
            keras.optimizers.Adam(beta_1=0.8, beta_2=0.99, epsilon=1e-6),
            lo.Adam(betas=(0.8, 0.99), eps=1e-6, form="keras"),
        ),
        (
            keras.optimizers.AdamW(weight_decay=0.05),
            lo.AdamW(betas=(0.9, 0.999), eps=1e-7, weight_decay=0.05, form="keras"),
        ),
        (
            keras.optimizers.RMSprop(rho=0.8, momentum=0.5, centered=True),
            lo.RMSprop(alpha=0.8, eps=1e-7, centered=True, momentum=0.5, form="keras"),
        ),
        (
            keras.optimizers.Adagrad(initial_accumulator_value=0.2),
            lo.Adagrad(eps=1e-7, initial_accumulator_value=0.2, form="keras"),
        ),
        (keras.optimizers.Adadelta(rho=0.9), lo.Adadelta(rho=0.9, eps=1e-7, form="keras")),
    ],
    ids=["sgd", "adam", "adamw", "rmsprop", "adagrad", "adadelta"],
)
def test_translation_of_the_optimizer(keras_opt, lab_opt):
    x, y = _blobs()
    plan = _plan(_net(opt=keras_opt), x, y)
    got = plan.optimizer
    assert type(got) is type(lab_opt)
    for f in dataclasses.fields(lab_opt):
        name = f.name
        assert getattr(got, name) == pytest.approx(getattr(lab_opt, name)), name


def test_translation_of_initialisers():
    x, y = _blobs()
    for init, name in [
        ("he_uniform", "he_uniform"),
        ("glorot_uniform", "glorot_uniform"),
        (keras.initializers.RandomNormal(stddev=0.05), "normal"),
    ]:
        assert _plan(_net(kernel_initializer=init), x, y).model.init == name


def _engine_epochs(model, opt, x, y, batch_size, epochs):
    """The translated MLP and optimizer trained from the Keras model's own weights, batches in
    order (fit's shuffle=False): the mean batch loss of each epoch and the final weights."""
    plan = _plan(model, x, y)
    mlp, lab_opt = plan.model, plan.optimizer
    parts = []
    for layer in model.layers:
        kernel, bias = (ops.convert_to_numpy(w) for w in layer.get_weights())
        parts += [kernel.T.ravel(), bias]
    dt = torch.float64
    theta = torch.as_tensor(np.concatenate(parts), dtype=dt)[None].clone()
    grad, state = torch.zeros_like(theta), lab_opt.init(theta)
    engine = TorchMLPKernel(mlp)
    xs = torch.as_tensor(plan.data.x_train, dtype=dt)
    ys = Targets(plan.data.y_train, mlp.loss, mlp.n_outputs, "cpu", dt)
    lr = torch.tensor([float(model.optimizer.learning_rate)], dtype=torch.float64)
    means = []
    for _ in range(epochs):
        total = 0.0
        for lo_ in range(0, len(xs), batch_size):
            idx = torch.arange(lo_, min(len(xs), lo_ + batch_size))
            loss, _ = engine.step(theta, grad, xs[idx], ys.take(idx).T)
            lab_opt.step(theta, grad, lr, state)
            total += float(loss[0]) * len(idx)
        means.append(total / len(xs))
    return means, theta[0].numpy()


@pytest.mark.parametrize(
    "opt",
    [
        lambda: keras.optimizers.SGD(0.05, momentum=0.9),
        lambda: keras.optimizers.SGD(0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
        lambda: keras.optimizers.Adam(0.01),
        lambda: keras.optimizers.RMSprop(0.01, momentum=0.5),
    ],
    ids=["sgd-momentum", "sgd-nesterov-wd", "adam", "rmsprop"],
)
@pytest.mark.parametrize(
    ("out", "loss"),
    [((3, "softmax"), "sparse_categorical_crossentropy"), ((1, "linear"), "mse")],
    ids=["softmax", "mse"],
)
def test_translated_training_matches_keras_fit(opt, out, loss):
    """Same initial weights, same batches: the engine's epoch losses and final weights are Keras
    fit's. The layers are float64, but Keras 3.15's torch backend still multiplies in float32
    (its result_type of two float64 is float32), JAX without x64 has no float64 at all, and
    Keras' Mean metric is float32, hence the float32-sized tolerances; a wrong formula (coupled
    weight decay, torch's momentum) is off by far more."""
    x, y = _blobs(70)
    x = x.astype("float64")
    if out[1] == "linear":
        y = (x[:, :1] - x[:, 1:2]).astype("float64")
    model = _net(*out, loss, opt=opt(), hidden=(8, 5), act="tanh", dtype="float64")
    means, theta = _engine_epochs(model, model.optimizer, x, y, batch_size=16, epochs=2)
    hist = model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0).history["loss"]
    keras_theta = np.concatenate(
        [
            part
            for layer in model.layers
            for part in (layer.get_weights()[0].T.ravel(), layer.get_weights()[1])
        ]
    )
    # JAX without x64 runs the float64 layers, and Keras' Adam, in float32 throughout; Adam's
    # m / (sqrt(v) + eps) then turns the float32 rounding of a tiny gradient into an update of
    # up to lr * 1e-3 (observed: 1.4e-5 on one weight of 103 after 10 updates of lr=0.01)
    atol = 5e-5 if keras.backend.backend() == "jax" and not _jax_x64() else 1e-6
    np.testing.assert_allclose(theta, keras_theta, rtol=1e-5, atol=atol)
    np.testing.assert_allclose(means, hist, rtol=1e-5)


def _jax_x64() -> bool:
    import jax

    return bool(jax.config.jax_enable_x64)


# -- refusals -------------------------------------------------------------------------------------
P = "find_lr: validate=True"
ENGINE = (
    f"{P} trains on lrlab's population engine, which computes only categorical or sparse "
    "categorical cross-entropy after a softmax output, binary cross-entropy after a sigmoid "
    "output with one unit, and mean squared error after a linear output (from_logits=False, no "
    "label smoothing, the default reduction); got loss="
)


def _dropout_model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(8, activation="relu", name="h"),
            keras.layers.Dropout(0.2, name="drop"),
            keras.layers.Dense(3, activation="softmax", name="out"),
        ]
    )
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    return model


def _mixed_model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(8, activation="relu", name="h1"),
            keras.layers.Dense(8, activation="tanh", name="h2"),
            keras.layers.Dense(3, activation="softmax", name="out"),
        ]
    )
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    return model


def _shared_layer_model():
    inp = keras.Input((4,))
    shared = keras.layers.Dense(4, activation="relu", name="shared")
    out = keras.layers.Dense(3, activation="softmax", name="out")(shared(shared(inp)))
    model = keras.Model(inp, out)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    return model


class Subclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.d = keras.layers.Dense(3, activation="softmax")

    def call(self, x):
        return self.d(x)


def _subclassed():
    model = Subclassed()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    return model


REFUSED = [
    (
        "dropout",
        _dropout_model,
        f"{P} translates a model made only of an Input and Dense layers; found drop (Dropout)",
    ),
    (
        "subclassed",
        _subclassed,
        f"{P} translates a Sequential or functional keras.Model made of "
        "Dense layers, got a model of type Subclassed",
    ),
    (
        "mixed-activations",
        _mixed_model,
        f"{P} translates hidden Dense layers that share one activation; found h1: relu, h2: tanh",
    ),
    (
        "elu",
        lambda: _net(act="elu"),
        f"{P} translates hidden Dense activations relu, tanh, sigmoid and linear; found h0: elu",
    ),
    (
        "no-bias",
        lambda: _net(use_bias=False),
        f"{P} translates Dense layers with a bias; h0 has use_bias=False",
    ),
    (
        "regularizer",
        lambda: _net(kernel_regularizer="l2"),
        f"{P} translates Dense layers without "
        "regularizers or constraints; h0 has a kernel_regularizer (L2)",
    ),
    (
        "constraint",
        lambda: _net(bias_constraint="non_neg"),
        f"{P} translates Dense layers without "
        "regularizers or constraints; h0 has a bias_constraint (NonNeg)",
    ),
    (
        "he-normal",
        lambda: _net(kernel_initializer="he_normal"),
        f"{P} translates the kernel "
        "initialisers HeUniform, GlorotUniform and RandomNormal(mean=0.0, stddev=0.05); layer h0 "
        "has HeNormal(scale=2.0, mode='fan_in', distribution='truncated_normal')",
    ),
    (
        "normal-stddev",
        lambda: _net(kernel_initializer=keras.initializers.RandomNormal(stddev=1.0)),
        f"{P} translates the kernel initialisers HeUniform, GlorotUniform and "
        "RandomNormal(mean=0.0, stddev=0.05); layer h0 has RandomNormal(mean=0.0, stddev=1.0)",
    ),
    (
        "bias-init",
        lambda: _net(bias_initializer="ones"),
        f"{P} translates Dense layers whose biases start at zero; h0 has bias_initializer=Ones",
    ),
    (
        "mse-after-softmax",
        lambda: _net(loss="mse"),
        ENGINE + "'mse' after the output layer out (3 units, activation softmax)",
    ),
    (
        "bce-after-softmax",
        lambda: _net(loss="binary_crossentropy"),
        ENGINE + "'binary_crossentropy' after the output layer out (3 units, activation softmax)",
    ),
    (
        "from-logits",
        lambda: _net(
            out_act=None, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        ),
        ENGINE + "SparseCategoricalCrossentropy(reduction="
        "'sum_over_batch_size', from_logits=True, ignore_class=None) after the output layer out "
        "(3 units, activation linear)",
    ),
    (
        "label-smoothing",
        lambda: _net(loss=keras.losses.CategoricalCrossentropy(label_smoothing=0.1)),
        ENGINE + "CategoricalCrossentropy(reduction='sum_over_batch_size', "
        "from_logits=False, label_smoothing=0.1, axis=-1) after the output layer out (3 units, "
        "activation softmax)",
    ),
    (
        "huber",
        lambda: _net(1, "linear", "huber"),
        ENGINE + "'huber' after the output layer out (1 unit, activation linear)",
    ),
    (
        "nadam",
        lambda: _net(opt=keras.optimizers.Nadam()),
        f"{P} rebuilds the optimizer on "
        "lrlab's population engine, which has keras.optimizers.SGD, Adam, AdamW, RMSprop, Adagrad "
        "and Adadelta; got Nadam",
    ),
    (
        "amsgrad",
        lambda: _net(opt=keras.optimizers.Adam(amsgrad=True)),
        f"{P} does not translate the optimizer's amsgrad=True",
    ),
    (
        "clipnorm",
        lambda: _net(opt=keras.optimizers.SGD(clipnorm=1.0)),
        f"{P} does not translate the optimizer's clipnorm=1.0",
    ),
    (
        "clipvalue",
        lambda: _net(opt=keras.optimizers.SGD(clipvalue=0.5)),
        f"{P} does not translate the optimizer's clipvalue=0.5",
    ),
    (
        "global-clipnorm",
        lambda: _net(opt=keras.optimizers.Adam(global_clipnorm=2.0)),
        f"{P} does not translate the optimizer's global_clipnorm=2.0",
    ),
    (
        "ema",
        lambda: _net(opt=keras.optimizers.SGD(use_ema=True)),
        f"{P} does not translate the optimizer's use_ema=True",
    ),
    (
        "accumulation",
        lambda: _net(opt=keras.optimizers.SGD(gradient_accumulation_steps=2)),
        f"{P} does not translate the optimizer's gradient_accumulation_steps=2",
    ),
    (
        "loss-scale",
        lambda: _net(opt=keras.optimizers.SGD(loss_scale_factor=128.0)),
        f"{P} does not translate the optimizer's loss_scale_factor=128.0",
    ),
]


def _exclude_model():
    opt = keras.optimizers.AdamW()
    opt.exclude_from_weight_decay(var_names=["bias"])
    return _net(opt=opt)


REFUSED.append(
    (
        "wd-exclusion",
        _exclude_model,
        f"{P} applies weight decay to every variable, as Keras does "
        "by default; the optimizer excludes some (exclude_from_weight_decay)",
    )
)
REFUSED.append(
    (
        "shared-layer",
        _shared_layer_model,
        f"{P} translates a plain chain Input -> Dense -> ... -> "
        "Dense; layer shared is not fed by the layer before it (or is called more than once)",
    )
)


@pytest.mark.parametrize(("case", "make", "message"), REFUSED, ids=[r[0] for r in REFUSED])
def test_refused_before_any_training(case, make, message):
    x, y = _blobs()
    model = make()
    if model.loss in ("mse", "binary_crossentropy") or case == "label-smoothing":
        y = np.eye(3, dtype="float32")[y]  # targets Keras itself accepts for that loss
    weights = [np.array(ops.convert_to_numpy(w), copy=True) for w in model.weights]
    fits = []
    model.fit = lambda *a, **k: fits.append(1)  # the range test would call this first
    with pytest.raises(ValueError) as info:
        find_lr(model, x, y, batch_size=16, validate=True, num_steps=5)
    assert str(info.value) == message
    assert fits == []
    after = [ops.convert_to_numpy(w) for w in model.weights]
    assert all(np.array_equal(a, b) for a, b in zip(weights, after))


def test_a_refusal_leaves_the_weights_and_the_optimizer_untouched():
    x, y = _blobs()
    model = _net(opt=keras.optimizers.Adam(amsgrad=True))
    model.build((None, 4))
    before = [np.array(ops.convert_to_numpy(w), copy=True) for w in model.weights]
    with pytest.raises(ValueError, match="amsgrad=True"):
        find_lr(model, x, y, batch_size=16, validate=True, num_steps=5)
    after = [ops.convert_to_numpy(w) for w in model.weights]
    assert all(np.array_equal(a, b) for a, b in zip(before, after))
    assert int(model.optimizer.iterations) == 0


@pytest.mark.parametrize(
    ("case", "x", "y", "message"),
    [
        (
            "x-list",
            lambda x: [x],
            lambda y: y,
            f"{P} needs x as one 2-D array, got a list of arrays",
        ),
        (
            "soft-labels",
            lambda x: x,
            lambda y: np.full((len(y), 3), 1 / 3, "float32"),
            f"{P} with a softmax output needs y as class labels or one-hot rows; got rows of shape "
            "(3,) that are not one-hot (soft labels are not supported)",
        ),
        (
            "label-range",
            lambda x: x,
            lambda y: y + 1,
            f"{P}: the y labels must lie in [0, 3), got values from 1 to 3",
        ),
    ],
    ids=lambda v: v if isinstance(v, str) and len(v) < 20 else "",
)
def test_data_refused(case, x, y, message):
    xs, ys = _blobs()
    model = _net()
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        _plan(model, x(xs), y(ys))


def test_validation_data_refused():
    x, y = _blobs()
    with pytest.raises(ValueError, match=re.escape(f"{P} needs validation_data x as a 2-D array")):
        _plan(_net(), x, y, validation_data=(x[:, :2], y))
