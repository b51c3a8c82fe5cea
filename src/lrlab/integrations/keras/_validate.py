"""``find_lr(..., validate=True)`` for Keras 3: a compiled model of Dense layers, its optimizer,
loss and data translated to lrlab's population engine (an :class:`~lrlab.lab.models.MLP`, an
:mod:`lrlab.lab.optim` optimizer with ``form="keras"``, NumPy arrays), checked before the range
test and validated after it.

Private: used by :func:`lrlab.keras.find_lr`. Importing this module does not import Keras (that
happens when validation is asked for).
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from lrlab.lab.validation import ValidationPlan, validation_settings

if TYPE_CHECKING:
    from lrlab.lab.models import MLP
    from lrlab.lab.optim import PopulationOptimizer

_OWNER = "find_lr: validate=True"
_HIDDEN = ("relu", "tanh", "sigmoid", "linear")


# -- the model --------------------------------------------------------------------------------
def _dense_chain(model: Any) -> list[Any]:
    """The Dense layers of a Sequential or functional model that is one chain of them."""
    import keras

    try:
        from keras.src.models.functional import Functional
    except ImportError:  # pragma: no cover - a Keras without that module
        Functional = ()  # type: ignore[assignment]

    layers = list(model.layers)
    if isinstance(model, keras.Sequential):
        chain = layers
    elif isinstance(model, Functional):
        if len(model.inputs) != 1 or len(model.outputs) != 1:
            raise ValueError(
                f"{_OWNER} translates a model with one input and one output, got "
                f"{len(model.inputs)} inputs and {len(model.outputs)} outputs"
            )
        chain = [la for la in layers if not isinstance(la, keras.layers.InputLayer)]
    else:
        raise ValueError(
            f"{_OWNER} translates a Sequential or functional keras.Model made of Dense layers, "
            f"got a model of type {type(model).__qualname__}"
        )
    others = [la for la in chain if type(la) is not keras.layers.Dense]
    if others:
        found = ", ".join(f"{la.name} ({type(la).__name__})" for la in others)
        raise ValueError(
            f"{_OWNER} translates a model made only of an Input and Dense layers; found {found}"
        )
    if not chain:
        raise ValueError(f"{_OWNER} translates a model with at least one Dense layer, found none")
    if isinstance(model, Functional):
        prev = model.inputs[0]
        for la in chain:
            nodes = getattr(la, "_inbound_nodes", [])
            if len(nodes) != 1 or la.input is not prev:
                raise ValueError(
                    f"{_OWNER} translates a plain chain Input -> Dense -> ... -> Dense; layer "
                    f"{la.name} is not fed by the layer before it (or is called more than once)"
                )
            prev = la.output
        if model.outputs[0] is not prev:
            raise ValueError(f"{_OWNER}: the model's output is not its last Dense layer")
    shape = tuple(model.inputs[0].shape) if getattr(model, "inputs", None) else None
    if shape is not None and len(shape) != 2:
        raise ValueError(
            f"{_OWNER} translates Dense layers on 2-D inputs [batch, features], got input shape "
            f"{shape}"
        )
    return chain


def _activation(layer: Any) -> str:
    import keras

    a = layer.activation
    for name in ("relu", "tanh", "sigmoid", "linear", "softmax"):
        if a is getattr(keras.activations, name):
            return name
    return getattr(a, "__name__", repr(a))


def _init(layer: Any) -> str:
    """The :class:`~lrlab.lab.models.MLP` ``init`` of a Dense layer's kernel initialiser."""
    import keras

    k = layer.kernel_initializer
    scaling = keras.initializers.VarianceScaling
    if isinstance(k, scaling):
        key = (float(k.scale), k.mode, k.distribution)
        if key == (2.0, "fan_in", "uniform"):
            return "he_uniform"
        if key == (1.0, "fan_avg", "uniform"):
            return "glorot_uniform"
    normal = type(k) is keras.initializers.RandomNormal
    if normal and float(k.mean) == 0.0 and float(k.stddev) == 0.05:
        return "normal"
    if isinstance(k, scaling):
        shown = {"scale": k.scale, "mode": k.mode, "distribution": k.distribution}
    else:
        config = k.get_config() if hasattr(k, "get_config") else {}
        skip = ("seed", "input_axes", "output_axes")
        shown = {n: v for n, v in config.items() if n not in skip}
    raise ValueError(
        f"{_OWNER} translates the kernel initialisers HeUniform, GlorotUniform and "
        f"RandomNormal(mean=0.0, stddev=0.05); layer {layer.name} has "
        f"{type(k).__name__}({', '.join(f'{n}={v!r}' for n, v in shown.items())})"
    )


def _check_dense(layer: Any) -> None:
    import keras

    if not layer.use_bias:
        raise ValueError(
            f"{_OWNER} translates Dense layers with a bias; {layer.name} has use_bias=False"
        )
    for attr in (
        "kernel_regularizer",
        "bias_regularizer",
        "activity_regularizer",
        "kernel_constraint",
        "bias_constraint",
    ):
        value = getattr(layer, attr, None)
        if value is not None:
            raise ValueError(
                f"{_OWNER} translates Dense layers without regularizers or constraints; "
                f"{layer.name} has a {attr} ({type(value).__name__})"
            )
    if type(layer.bias_initializer) is not keras.initializers.Zeros:
        raise ValueError(
            f"{_OWNER} translates Dense layers whose biases start at zero; {layer.name} has "
            f"bias_initializer={type(layer.bias_initializer).__name__}"
        )
    if getattr(layer, "lora_enabled", False) or getattr(layer, "quantization_mode", None):
        raise ValueError(
            f"{_OWNER} does not translate LoRA or quantized Dense layers ({layer.name})"
        )
    if not layer.trainable:
        raise ValueError(
            f"{_OWNER} translates trainable layers only; {layer.name} is frozen (trainable=False)"
        )
    policy = layer.dtype_policy.name
    if policy not in ("float32", "float64"):
        raise ValueError(
            f"{_OWNER} trains in float32 or float64; {layer.name} has the dtype policy {policy!r}"
        )


def _loss_kind(loss: Any) -> str | None:
    """``"categorical"``, ``"binary"`` or ``"mse"`` for a loss the engine computes, else None."""
    import keras

    L = keras.losses
    functions = {
        L.categorical_crossentropy: "categorical",
        L.sparse_categorical_crossentropy: "categorical",
        L.binary_crossentropy: "binary",
        L.mean_squared_error: "mse",
    }
    if isinstance(loss, str):
        try:
            loss = L.get(loss)
        except ValueError:
            return None
    if callable(loss) and not isinstance(loss, L.Loss):
        return functions.get(loss)
    kinds = {
        L.CategoricalCrossentropy: "categorical",
        L.SparseCategoricalCrossentropy: "categorical",
        L.BinaryCrossentropy: "binary",
        L.MeanSquaredError: "mse",
    }
    kind = kinds.get(type(loss))
    if kind is None:
        return None
    config = loss.get_config()
    plain = (
        config.get("reduction") == "sum_over_batch_size"
        and not config.get("from_logits", False)
        and not config.get("label_smoothing", 0.0)
        and config.get("axis", -1) == -1
        and config.get("ignore_class") is None
    )
    return kind if plain else None


def _describe_loss(loss: Any) -> str:
    import keras

    if isinstance(loss, keras.losses.Loss):
        config = {n: v for n, v in loss.get_config().items() if n not in ("name", "dtype")}
        return f"{type(loss).__name__}({', '.join(f'{n}={v!r}' for n, v in config.items())})"
    if callable(loss):
        return getattr(loss, "__name__", repr(loss))
    return repr(loss)


def _mlp(model: Any) -> tuple[MLP, str]:
    """The :class:`~lrlab.lab.models.MLP` of ``model`` and its dtype."""
    from lrlab.lab.models import MLP

    chain = _dense_chain(model)
    for layer in chain:
        _check_dense(layer)
    hidden, last = chain[:-1], chain[-1]
    acts = [_activation(la) for la in hidden]
    bad = [f"{la.name}: {a}" for la, a in zip(hidden, acts) if a not in _HIDDEN]
    if bad:
        raise ValueError(
            f"{_OWNER} translates hidden Dense activations relu, tanh, sigmoid and linear; "
            f"found {', '.join(bad)}"
        )
    if len(set(acts)) > 1:
        found = ", ".join(f"{la.name}: {a}" for la, a in zip(hidden, acts))
        raise ValueError(
            f"{_OWNER} translates hidden Dense layers that share one activation; found {found}"
        )
    inits = [_init(la) for la in chain]
    if len(set(inits)) > 1:
        found = ", ".join(f"{la.name}: {i}" for la, i in zip(chain, inits))
        raise ValueError(
            f"{_OWNER} translates Dense layers that share one kernel initialiser; found {found}"
        )
    policies = {la.dtype_policy.name for la in chain}
    if len(policies) > 1:
        raise ValueError(f"{_OWNER} trains in one dtype; the Dense layers have {sorted(policies)}")
    out, units = _activation(last), int(last.units)
    loss = getattr(model, "loss", None)
    kind = _loss_kind(loss)
    pairs = {("softmax", "categorical"), ("sigmoid", "binary"), ("linear", "mse")}
    if (
        (out, kind) not in pairs
        or (out == "sigmoid" and units != 1)
        or (out == "softmax" and units < 2)
    ):
        raise ValueError(
            f"{_OWNER} trains on lrlab's population engine, which computes only categorical or "
            "sparse categorical cross-entropy after a softmax output, binary cross-entropy after "
            "a sigmoid output with one unit, and mean squared error after a linear output "
            "(from_logits=False, no label smoothing, the default reduction); got loss="
            f"{_describe_loss(loss)} after the output layer {last.name} ({units} "
            f"unit{'s' if units != 1 else ''}, activation {out})"
        )
    weights = getattr(getattr(model, "_compile_loss", None), "_user_loss_weights", None)
    if weights is not None and weights not in (1, 1.0, [1], [1.0]):
        raise ValueError(f"{_OWNER} does not translate loss_weights={weights!r}")
    if getattr(model, "losses", None):
        raise ValueError(
            f"{_OWNER} does not translate added losses (model.losses has {len(model.losses)})"
        )
    fan_in = int(chain[0].kernel.shape[0])
    mlp = MLP(
        fan_in,
        tuple(int(la.units) for la in hidden),
        units,
        activation=acts[0] if acts else "relu",
        output=out,
        init=inits[0],
    )
    return mlp, policies.pop()


# -- the optimizer ----------------------------------------------------------------------------
def _lab_optimizer(optimizer: Any) -> PopulationOptimizer:
    """The :mod:`lrlab.lab.optim` optimizer (``form="keras"``) that computes what ``optimizer``
    computes."""
    import keras

    from lrlab.lab import optim as lo

    K = keras.optimizers
    # AdamW before Adam (a subclass of it); the backend's classes subclass Keras' own
    known = (K.AdamW, K.Adam, K.SGD, K.RMSprop, K.Adagrad, K.Adadelta)
    kind = next((k for k in known if isinstance(optimizer, k)), None)
    if kind is None:
        raise ValueError(
            f"{_OWNER} rebuilds the optimizer on lrlab's population engine, which has "
            "keras.optimizers.SGD, Adam, AdamW, RMSprop, Adagrad and Adadelta; got "
            f"{type(optimizer).__qualname__}"
        )
    c = optimizer.get_config()
    for name in (
        "clipnorm",
        "clipvalue",
        "global_clipnorm",
        "gradient_accumulation_steps",
        "loss_scale_factor",
    ):
        if c.get(name) is not None:
            raise ValueError(f"{_OWNER} does not translate the optimizer's {name}={c[name]!r}")
    if c.get("use_ema"):
        raise ValueError(f"{_OWNER} does not translate the optimizer's use_ema=True")
    if c.get("amsgrad"):
        raise ValueError(f"{_OWNER} does not translate the optimizer's amsgrad=True")
    excluded = getattr(optimizer, "_exclude_from_weight_decay", None) or getattr(
        optimizer, "_exclude_from_weight_decay_pattern", None
    )
    if excluded:
        raise ValueError(
            f"{_OWNER} applies weight decay to every variable, as Keras does by default; the "
            "optimizer excludes some (exclude_from_weight_decay)"
        )

    def num(name: str) -> float:
        value = c.get(name)
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ValueError(
                f"{_OWNER} needs a number for the optimizer's {name}, got {value!r}"
            ) from None

    wd = 0.0 if c.get("weight_decay") is None else num("weight_decay")
    if kind is K.SGD:
        return lo.SGD(
            momentum=num("momentum"), nesterov=bool(c["nesterov"]), weight_decay=wd, form="keras"
        )
    if kind in (K.Adam, K.AdamW):
        cls = lo.AdamW if kind is K.AdamW else lo.Adam
        return cls(
            betas=(num("beta_1"), num("beta_2")),
            eps=num("epsilon"),
            weight_decay=wd,
            form="keras",
        )
    if kind is K.RMSprop:
        return lo.RMSprop(
            alpha=num("rho"),
            eps=num("epsilon"),
            centered=bool(c["centered"]),
            momentum=num("momentum"),
            weight_decay=wd,
            form="keras",
        )
    if kind is K.Adagrad:
        return lo.Adagrad(
            eps=num("epsilon"),
            initial_accumulator_value=num("initial_accumulator_value"),
            weight_decay=wd,
            form="keras",
        )
    return lo.Adadelta(rho=num("rho"), eps=num("epsilon"), weight_decay=wd, form="keras")


# -- the data ---------------------------------------------------------------------------------
def _inputs(name: str, x: Any, n_inputs: int) -> np.ndarray:
    if isinstance(x, (Mapping, list, tuple)):
        raise ValueError(
            f"{_OWNER} needs {name} as one 2-D array, got a {type(x).__name__} of arrays"
        )
    arr = np.asarray(x)
    if arr.ndim != 2 or arr.shape[1] != n_inputs or arr.dtype.kind not in "biuf":
        raise ValueError(
            f"{_OWNER} needs {name} as a 2-D array of numbers [rows, {n_inputs}], got dtype "
            f"{arr.dtype} and shape {arr.shape}"
        )
    return arr.astype(np.float64)


def _targets(name: str, y: Any, output: str, n_out: int) -> np.ndarray:
    if isinstance(y, (Mapping, list, tuple)):
        raise ValueError(f"{_OWNER} needs {name} as one array, got a {type(y).__name__}")
    arr = np.asarray(y)
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{_OWNER} needs numeric {name}, got dtype {arr.dtype}")
    if output == "softmax":
        if arr.ndim == 2 and arr.shape[1] == n_out:
            if not (np.isin(arr, (0, 1)).all() and (arr.sum(axis=1) == 1).all()):
                raise ValueError(
                    f"{_OWNER} with a softmax output needs {name} as class labels or one-hot "
                    "rows; got rows of shape "
                    f"{arr.shape[1:]} that are not one-hot (soft labels are not supported)"
                )
            return arr.argmax(axis=1).astype(np.int64)
        flat = arr.reshape(-1) if arr.ndim == 2 and arr.shape[1] == 1 else arr
        f64 = flat.astype(np.float64)
        if flat.ndim != 1 or not (np.isfinite(f64).all() and (f64 == np.round(f64)).all()):
            raise ValueError(
                f"{_OWNER} with a softmax output needs {name} as integer class labels [rows] or "
                f"one-hot rows [rows, {n_out}], got dtype {arr.dtype} and shape {arr.shape}"
            )
        if flat.size and (flat.min() < 0 or flat.max() >= n_out):
            raise ValueError(
                f"{_OWNER}: the {name} labels must lie in [0, {n_out}), got values from "
                f"{flat.min():g} to {flat.max():g}"
            )
        return flat.astype(np.int64)
    out = arr.astype(np.float64).reshape(len(arr), -1) if arr.ndim in (1, 2) else None
    if out is None or out.shape[1] != n_out:
        raise ValueError(
            f"{_OWNER} needs {name} of shape [rows] or [rows, {n_out}] for a model with "
            f"{n_out} outputs, got shape {arr.shape}"
        )
    if output == "sigmoid" and not np.isin(out, (0.0, 1.0)).all():
        raise ValueError(
            f"{_OWNER} with binary cross-entropy needs {name} of 0s and 1s; other values found"
        )
    return out


class KerasValidationPlan(ValidationPlan):
    """``validate=True`` for a compiled Keras model: the model, its optimizer and the data
    translated and checked before the range test; :meth:`run` after it."""

    def __init__(
        self,
        model: Any,
        x: Any,
        y: Any,
        validation_data: Any,
        around: Any,
        factors: Any,
        epochs: Any,
        seeds: Any,
        seed: int,
    ) -> None:
        settings = validation_settings("find_lr", around, factors, epochs, seeds, seed)
        m, dtype = _mlp(model)
        super().__init__(settings, m, _lab_optimizer(model.optimizer), dtype)
        xt = _inputs("x", x, m.n_inputs)
        yt = _targets("y", y, m.output, m.n_outputs)
        if len(yt) != len(xt):
            raise ValueError(f"{_OWNER}: x has {len(xt)} rows but y {len(yt)}")
        xv = yv = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise ValueError(
                    f"{_OWNER} needs validation_data as a pair (x, y), got "
                    f"{type(validation_data).__name__}"
                )
            xv = _inputs("validation_data x", validation_data[0], m.n_inputs)
            yv = _targets("validation_data y", validation_data[1], m.output, m.n_outputs)
            if len(yv) != len(xv):
                raise ValueError(
                    f"{_OWNER}: validation_data has {len(xv)} input rows but {len(yv)} targets"
                )
        self.data = types.SimpleNamespace(x_train=xt, y_train=yt, x_test=xv, y_test=yv)
