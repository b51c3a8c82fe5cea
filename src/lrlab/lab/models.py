"""Model specifications for population training: the classic MLPs, and any torch module.

:class:`MLP` describes the small fully connected networks of the classic learning-rate
tutorials (e.g. Ionosphere's ``34 -> Dense(34, relu) -> Dense(1, sigmoid)`` and the blobs
problem's ``2 -> Dense(50, relu) -> Dense(3, softmax)``). The population engine trains C of them
at once with a fused, hand-written forward/backward pass. :class:`TorchModule` wraps a factory of
any ``torch.nn.Module`` for the slower, general ``torch.func`` path.

Initialisers (``fan_in``/``fan_out`` of a Dense layer):

- ``"he_uniform"``: ``U(-sqrt(6 / fan_in), +)`` (Keras ``HeUniform``), biases 0;
- ``"glorot_uniform"``: ``U(-sqrt(6 / (fan_in + fan_out)), +)`` (Keras' default), biases 0;
- ``"normal"``: ``N(0, 0.05)`` (Keras 2 ``init='normal'``, Keras 3 ``RandomNormal()``), biases 0;
- ``"torch"``: ``U(-1/sqrt(fan_in), +)`` for weights and biases (torch ``nn.Linear``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._checks import integer

ACTIVATIONS = ("relu", "tanh", "sigmoid", "linear")
INITS = ("he_uniform", "glorot_uniform", "normal", "torch")
OUTPUTS = {  # output activation -> the loss it pairs with
    "softmax": "categorical_crossentropy",
    "sigmoid": "binary_crossentropy",
    "linear": "mse",
}


@dataclass(frozen=True)
class MLP:
    """A fully connected network: ``n_inputs -> hidden... -> n_outputs``.

    Args:
        n_inputs: input features.
        hidden: widths of the hidden layers, e.g. ``(50,)``.
        n_outputs: output units (1 for a sigmoid binary classifier).
        activation: hidden activation, ``"relu"``, ``"tanh"``, ``"sigmoid"`` or ``"linear"``.
        output: ``"softmax"`` (loss: categorical cross-entropy), ``"sigmoid"`` (binary
            cross-entropy, ``n_outputs == 1``) or ``"linear"`` (mean squared error).
        init: weight initialiser (see the module docstring).

    Example:
        >>> from lrlab.lab.models import MLP
        >>> m = MLP(n_inputs=2, hidden=(50,), n_outputs=3)
        >>> m.n_params, m.layer_sizes
        (303, [(2, 50), (50, 3)])
    """

    n_inputs: int
    hidden: tuple[int, ...]
    n_outputs: int
    activation: str = "relu"
    output: str = "softmax"
    init: str = "he_uniform"
    loss: str = field(init=False)

    def __post_init__(self) -> None:
        owner = "MLP"
        object.__setattr__(self, "n_inputs", integer(owner, "n_inputs", self.n_inputs, lo=1))
        object.__setattr__(self, "n_outputs", integer(owner, "n_outputs", self.n_outputs, lo=1))
        if isinstance(self.hidden, (int, np.integer)):
            object.__setattr__(self, "hidden", (self.hidden,))
        if not isinstance(self.hidden, (tuple, list)):
            raise ValueError(f"MLP: hidden must be a list of layer widths, got {self.hidden!r}")
        widths = tuple(integer(owner, f"hidden[{i}]", h, lo=1) for i, h in enumerate(self.hidden))
        object.__setattr__(self, "hidden", widths)
        for name, options in (
            ("activation", ACTIVATIONS),
            ("output", tuple(OUTPUTS)),
            ("init", INITS),
        ):
            if getattr(self, name) not in options:
                raise ValueError(
                    f"MLP: {name} must be one of {', '.join(options)}, got {getattr(self, name)!r}"
                )
        if self.output == "sigmoid" and self.n_outputs != 1:
            raise ValueError(f"MLP: output='sigmoid' needs n_outputs=1, got {self.n_outputs!r}")
        if self.output == "softmax" and self.n_outputs < 2:
            raise ValueError(f"MLP: output='softmax' needs n_outputs >= 2, got {self.n_outputs!r}")
        object.__setattr__(self, "loss", OUTPUTS[self.output])

    @property
    def layer_sizes(self) -> list[tuple[int, int]]:
        """``(fan_in, fan_out)`` of each Dense layer."""
        widths = [self.n_inputs, *self.hidden, self.n_outputs]
        return list(itertools.pairwise(widths))

    @property
    def n_params(self) -> int:
        """Trainable parameters of one member."""
        return sum(i * o + o for i, o in self.layer_sizes)

    def slots(self) -> list[tuple[str, int, tuple[int, ...]]]:
        """``(name, offset, shape)`` of each parameter in a member's flat vector.

        Weights are stored ``[fan_out, fan_in]`` (torch ``nn.Linear`` layout), each followed by
        its bias: ``W1, b1, W2, b2, ...``.
        """
        out, offset = [], 0
        for k, (i, o) in enumerate(self.layer_sizes, start=1):
            out.append((f"W{k}", offset, (o, i)))
            offset += i * o
            out.append((f"b{k}", offset, (o,)))
            offset += o
        return out

    def init_member(self, seed: int) -> np.ndarray:
        """The initial flat parameter vector of one member, from its own seed (float64).

        A member's weights depend on its seed alone, never on the other members of its cohort.
        """
        rng = np.random.default_rng(seed)
        parts = []
        for i, o in self.layer_sizes:
            if self.init == "he_uniform":
                w, b = rng.uniform(-np.sqrt(6 / i), np.sqrt(6 / i), (o, i)), np.zeros(o)
            elif self.init == "glorot_uniform":
                lim = np.sqrt(6 / (i + o))
                w, b = rng.uniform(-lim, lim, (o, i)), np.zeros(o)
            elif self.init == "normal":
                w, b = rng.normal(0.0, 0.05, (o, i)), np.zeros(o)
            else:
                lim = 1 / np.sqrt(i)
                w, b = rng.uniform(-lim, lim, (o, i)), rng.uniform(-lim, lim, o)
            parts += [w.ravel(), b]
        return np.concatenate(parts)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for study files and the store."""
        return {
            "type": "mlp",
            "n_inputs": self.n_inputs,
            "hidden": list(self.hidden),
            "n_outputs": self.n_outputs,
            "activation": self.activation,
            "output": self.output,
            "init": self.init,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MLP:
        """The network :meth:`to_dict` describes (``type`` aside; ``hidden`` any sequence).

        Example:
            >>> net = MLP(2, (50,), 3)
            >>> MLP.from_dict(net.to_dict()) == net
            True
        """
        fields = {k: v for k, v in data.items() if k != "type"}
        return cls(**{**fields, "hidden": tuple(fields["hidden"])})


@dataclass(frozen=True)
class TorchModule:
    """Any ``torch.nn.Module`` for population training, built by ``factory()``.

    The engine stacks the parameters of C copies and trains them with ``torch.func``
    (``functional_call`` + ``vmap`` + ``grad``). Not supported, and rejected with a clear error:
    modules with buffers (BatchNorm running statistics) and modules with dropout (randomness
    under ``vmap``). ``output`` and the loss work as for :class:`MLP`; the module must return
    logits ``[batch, n_outputs]``.

    Args:
        factory: a function with no arguments returning a fresh module; it is called once per
            member under ``torch.manual_seed(seed)``, so a member's initial weights depend on its
            seed only.
        n_outputs: the module's output width.
        output: ``"softmax"``, ``"sigmoid"`` or ``"linear"``, as for :class:`MLP`.
    """

    factory: Callable[[], Any]
    n_outputs: int
    output: str = "softmax"
    loss: str = field(init=False)

    def __post_init__(self) -> None:
        if not callable(self.factory):
            raise ValueError(f"TorchModule: factory must be callable, got {self.factory!r}")
        integer("TorchModule", "n_outputs", self.n_outputs, lo=1)
        if self.output not in OUTPUTS:
            raise ValueError(
                f"TorchModule: output must be one of {', '.join(OUTPUTS)}, got {self.output!r}"
            )
        object.__setattr__(self, "loss", OUTPUTS[self.output])

    def build(self, seeds: Sequence[int]) -> list[Any]:
        """One module per seed, checked for what the population engine supports."""
        import torch

        modules = []
        for seed in seeds:
            with torch.random.fork_rng():
                torch.manual_seed(int(seed))
                m = self.factory()
            if not isinstance(m, torch.nn.Module):
                raise ValueError(f"TorchModule: factory must return a torch.nn.Module, got {m!r}")
            buffers = [n for n, _ in m.named_buffers()]
            if buffers:
                raise ValueError(
                    "TorchModule: modules with buffers are not supported by the population "
                    f"engine (found {', '.join(buffers)}; BatchNorm keeps running statistics); "
                    "use LayerNorm/GroupNorm or train the model on its own"
                )
            drop = [
                n
                for n, sub in m.named_modules()
                if isinstance(sub, torch.nn.modules.dropout._DropoutNd)
            ]
            if drop:
                raise ValueError(
                    f"TorchModule: dropout is not supported by the population engine (found "
                    f"{', '.join(drop)}): its random masks cannot be drawn per member under vmap"
                )
            modules.append(m)
        return modules
