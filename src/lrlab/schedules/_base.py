"""The :class:`Schedule` base class: evaluation, repr, serialisation, composition operators.

Every schedule is a frozen dataclass whose fields are its parameters. The fields are the whole
state: ``repr`` prints them as the expression that builds the schedule (the same text
:func:`lrlab.schedules.parse` reads), and ``to_dict`` writes them as plain JSON data that
:func:`from_dict` reads back to an equal object.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import reprlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, ClassVar, TypeVar

import numpy as np

from .._checks import choice as _choice
from .._checks import fail as _fail
from .._checks import flag as flag
from .._checks import is_real, number
from ._array import Array, Ops, prepare

REGISTRY: dict[str, type[Schedule]] = {}

#: steps per block when a long NumPy array is evaluated (128 KiB of float64)
EVAL_BLOCK = 16384

#: the deepest a schedule may nest (a family alone is depth 1, ``warmup(cosine(...))`` is 2).
#: Printing, serialising and evaluating a schedule recurse once per level, so a bound far
#: below Python's recursion limit keeps them all safe; real schedules nest a few levels.
MAX_DEPTH = 100

S = TypeVar("S", bound="type[Schedule]")


def register(kind: str) -> Callable[[S], S]:
    """Class decorator: make a schedule class known to ``parse`` and ``from_dict`` as ``kind``."""

    def deco(cls: S) -> S:
        if kind in REGISTRY:  # pragma: no cover - programming error
            raise RuntimeError(f"schedule kind {kind!r} registered twice")
        cls.kind = kind
        REGISTRY[kind] = cls
        return cls

    return deco


class Schedule:
    """A learning-rate schedule: a pure, closed-form function of the step.

    ``s(step)`` accepts a Python number (returns a float), a NumPy array (vectorised), a torch
    tensor (any device; stays a tensor) or a JAX array, also a traced one under ``jax.jit``.
    Step 0 is the learning rate of the first optimizer update, as in torch (after ``k`` calls of
    ``scheduler.step()`` the rate is ``s(k)``), Keras (``optimizer.iterations``) and Optax
    (``count``).

    Schedules compose: ``0.5 * s`` scales, ``s1 * s2`` multiplies pointwise, and
    :func:`~lrlab.schedules.join`, :func:`~lrlab.schedules.warmup`,
    :func:`~lrlab.schedules.clip`, :func:`~lrlab.schedules.shift` and
    :func:`~lrlab.schedules.by_epoch` build new schedules from old ones.
    """

    kind: ClassVar[str] = ""
    #: how many leading fields ``repr`` prints without their name
    positional: ClassVar[int] = 0

    # -- evaluation ---------------------------------------------------------------------------
    def __call__(self, step: Any) -> Any:
        t, ops, finish = prepare(step)
        if ops.kind == "jax":
            return finish(float_params(self)._eval(t, ops))
        if ops.kind != "numpy":
            return finish(self._eval(t, ops))
        dtype = t.dtype if t.dtype.kind == "f" else np.dtype(np.float64)
        if t.ndim == 0:
            # one step as a one-element array: every operation of the body is then an array
            # operation, as for a table of steps (NumPy's scalar arithmetic, e.g. its ``**``,
            # may round differently from its array loops), so s(k) == s(np.arange(n))[k]
            return finish(self._eval(t.reshape(1).astype(dtype), ops).reshape(()))
        if t.ndim == 1 and t.size > 2 * EVAL_BLOCK:
            # long NumPy arrays in cache-sized blocks: every temporary of the body then stays
            # in cache instead of touching megabytes of fresh memory per operation
            out = np.empty(t.shape, dtype)
            for lo in range(0, t.size, EVAL_BLOCK):
                out[lo : lo + EVAL_BLOCK] = self._eval(
                    t[lo : lo + EVAL_BLOCK].astype(dtype, copy=False), ops
                )
            return finish(out)
        return finish(self._eval(t.astype(dtype, copy=False), ops))

    def _eval(self, t: Array, ops: Ops) -> Array:  # pragma: no cover - abstract
        raise NotImplementedError

    def _with_float_params(self) -> Schedule:
        """A copy whose integer parameters are floats, nested schedules included.

        The copy is made without ``__init__`` (whose checks would turn integral values back
        into ints) and only evaluated, never shown: see :func:`float_params`. A schedule whose
        integers are counts rather than values in the formula overrides this.
        """
        view = copy.copy(self)
        for name, value in self.params().items():
            setp(view, name, _float_value(value))
        return view

    # -- structure ------------------------------------------------------------------------------
    def params(self) -> dict[str, Any]:
        """The constructor arguments, in order (nested schedules stay objects)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init}  # type: ignore[arg-type]

    def children(self) -> tuple[Schedule, ...]:
        """The schedules this one is built from (empty for a family)."""
        out: list[Schedule] = []
        for v in self.params().values():
            if isinstance(v, Schedule):
                out.append(v)
            elif isinstance(v, tuple):
                out.extend(x for x in v if isinstance(x, Schedule))
        return tuple(out)

    def walk(self) -> Iterator[Schedule]:
        """This schedule and every schedule inside it, depth first."""
        yield self
        for c in self.children():
            yield from c.walk()

    def decays_from(self) -> float | None:
        """The step from which this schedule is meant never to rise (``None``: not meant to).

        :func:`~lrlab.schedules.lint` reports an upward jump after this step.
        """
        return None

    # -- text and data ------------------------------------------------------------------------
    def __repr__(self) -> str:
        parts = []
        fields = [f for f in dataclasses.fields(self) if f.init]  # type: ignore[arg-type]
        for i, f in enumerate(fields):
            value = getattr(self, f.name)
            if i < self.positional:
                parts.append(format_value(value))
            elif f.default is dataclasses.MISSING or value != f.default:
                parts.append(f"{f.name}={format_value(self._encode_text(f.name, value))}")
        return f"{self.kind}({', '.join(parts)})"

    def _encode_text(self, name: str, value: Any) -> Any:
        return value

    def _encode_data(self, name: str, value: Any) -> Any:
        return value

    @classmethod
    def _decode(cls, name: str, value: Any, resolver: FunctionResolver) -> Any:
        return value

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-serialisable data; :func:`from_dict` rebuilds an equal schedule."""
        out: dict[str, Any] = {"type": self.kind}
        for name, value in self.params().items():
            out[name] = _to_data(self._encode_data(name, value))
        return out

    def to_json(self) -> str:
        """``json.dumps(self.to_dict())``."""
        return json.dumps(self.to_dict())

    # -- operators ----------------------------------------------------------------------------
    def __mul__(self, other: object) -> Schedule:
        from ._compose import Product, Scale

        if isinstance(other, Schedule):
            return Product(self, other)
        if isinstance(other, (int, float, np.integer, np.floating)) and not isinstance(other, bool):
            return Scale(self, float(other))
        return NotImplemented

    __rmul__ = __mul__

    def __truediv__(self, other: object) -> Schedule:
        if isinstance(other, (int, float, np.integer, np.floating)) and not isinstance(other, bool):
            if other == 0:
                raise ZeroDivisionError("cannot divide a schedule by 0")
            return self * (1.0 / float(other))
        return NotImplemented


def _float_value(value: Any) -> Any:
    """``value`` with ints as floats, inside tuples and nested schedules (bools unchanged)."""
    if isinstance(value, Schedule):
        return float_params(value)
    if isinstance(value, tuple):
        return tuple(_float_value(v) for v in value)
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def float_params(s: Schedule) -> Schedule:
    """``s`` with every integer parameter a float, for evaluation under JAX (cached on ``s``).

    Step counts are kept as ints (``linear(..., steps=100)`` prints and serialises as written),
    but JAX without ``jax_enable_x64`` reads a Python int in an array expression as int32:
    ``t / 2**52`` raises ``OverflowError``, eagerly and under ``jax.jit``. A Python float is
    read as a weakly typed float, rounded to the step's dtype, just as NumPy rounds a Python
    number for a float32 array, so both give the same values. The conversion is exact:
    :func:`steps` keeps ints only below ``2**53``. Ints that no array sees stay as they are
    (:class:`~lrlab.schedules.Recurrence` keeps its table length).

    Example:
        >>> from lrlab.schedules import linear
        >>> s = linear(init=1.0, end=0.0, steps=2**52)
        >>> float_params(s).steps, s.steps
        (4503599627370496.0, 4503599627370496)
    """
    cached = s.__dict__.get("_float_params")
    if cached is None:
        cached = s._with_float_params()
        object.__setattr__(cached, "_float_params", cached)
        object.__setattr__(s, "_float_params", cached)
    return cached


def format_value(value: Any) -> str:
    """The text form of a parameter value, as ``parse`` reads it."""
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else f"float({str(value)!r})"
    return repr(value)


def _to_data(value: Any) -> Any:
    if isinstance(value, Schedule):
        return value.to_dict()
    if isinstance(value, tuple):
        return [_to_data(v) for v in value]
    return value


class FunctionResolver:
    """Turns a stored function name (``"module:qualname"``) back into the function.

    Only names in ``functions`` are resolved, unless ``allow_import`` is true: reading a
    schedule from text or JSON never imports code unless the caller asks for it.
    """

    def __init__(
        self, functions: Mapping[str, Callable[..., Any]] | None = None, allow_import: bool = False
    ) -> None:
        self.functions = dict(functions or {})
        self.allow_import = allow_import

    def __call__(self, name: str) -> Callable[..., Any]:
        if name in self.functions:
            return self.functions[name]
        if not self.allow_import:
            raise ValueError(
                f"function {name!r} is not known: pass functions={{{name!r}: fn}} "
                "(or allow_import=True to import it by name)"
            )
        import importlib

        module, _, qual = name.partition(":")
        if not module or not qual:
            raise ValueError(f"function name must look like 'module:qualname', got {name!r}")
        obj: Any = importlib.import_module(module)
        for part in qual.split("."):
            obj = getattr(obj, part)
        if not callable(obj):
            raise ValueError(f"{name!r} is not callable")
        return obj


def from_dict(
    data: Mapping[str, Any],
    *,
    functions: Mapping[str, Callable[..., Any]] | None = None,
    allow_import: bool = False,
) -> Schedule:
    """Rebuild a schedule from :meth:`Schedule.to_dict` data.

    Args:
        data: a mapping with ``"type"`` (the schedule kind) and the parameters.
        functions: names (``"module:qualname"``) of the functions that custom and recurrence
            schedules refer to, mapped to the functions.
        allow_import: import such functions by name when they are not in ``functions``.

    Example:
        >>> from lrlab.schedules import cosine, from_dict
        >>> s = cosine(init=0.1, decay_steps=100)
        >>> from_dict(s.to_dict()) == s
        True
    """
    return _from_data(data, FunctionResolver(functions, allow_import), "")


def from_json(text: str, **kwargs: Any) -> Schedule:
    """``from_dict(json.loads(text))``.

    Raises:
        ValueError: for text nested too deeply for the JSON reader, and whatever
            :func:`from_dict` raises.
    """
    try:
        data = json.loads(text)
    except RecursionError:
        raise ValueError(
            f"schedule JSON is nested too deeply; schedules nest at most {MAX_DEPTH} levels"
        ) from None
    return from_dict(data, **kwargs)


def _too_deep(where: str) -> ValueError:
    return ValueError(
        f"schedule data{where} is nested more than {MAX_DEPTH} levels deep; "
        f"schedules nest at most {MAX_DEPTH} levels"
    )


_SHOWN = reprlib.Repr()
_SHOWN.maxlevel, _SHOWN.maxdict, _SHOWN.maxlist, _SHOWN.maxstring = 3, 12, 12, 120
_SHOWN.maxlong, _SHOWN.maxother = 60, 120


def _shown(value: Any) -> str:
    """A bounded repr for error messages: a 3,000-level dict or a 400-digit int stays short."""
    return _SHOWN.repr(value)


def _from_data(data: Any, resolver: FunctionResolver, where: str, depth: int = 1) -> Schedule:
    if isinstance(data, Schedule):
        return data
    if depth > MAX_DEPTH:
        raise _too_deep(where)
    if not isinstance(data, Mapping):
        raise ValueError(
            f"schedule data{where} must be a mapping with a 'type', got {_shown(data)}"
        )
    kind = data.get("type")
    cls = REGISTRY.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ValueError(
            f"schedule data{where}: unknown type {_shown(kind)}; "
            f"known: {', '.join(sorted(REGISTRY))}"
        )
    names = {f.name for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    kwargs = {}
    for key, value in data.items():
        if key == "type":
            continue
        if key not in names:
            raise ValueError(
                f"{kind}: unknown parameter {_shown(key)} (parameters: {sorted(names)})"
            )
        value = _decode_value(value, resolver, f"{where}.{key}", depth)
        kwargs[key] = cls._decode(key, value, resolver)
    missing = [
        f.name
        for f in dataclasses.fields(cls)  # type: ignore[arg-type]
        if f.init
        and f.name not in kwargs
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ValueError(
            f"schedule data{where}: {kind} needs {', '.join(repr(m) for m in missing)}, "
            f"got {_shown(dict(data))}"
        )
    return cls(**kwargs)


def _decode_value(value: Any, resolver: FunctionResolver, where: str, depth: int) -> Any:
    """A parameter value read from data; ``depth`` is the nesting of the schedule holding it."""
    if isinstance(value, Mapping):
        return _from_data(value, resolver, where, depth + 1)
    if isinstance(value, (list, tuple)):
        if depth > MAX_DEPTH:  # lists inside lists: bounded like schedules
            raise _too_deep(where)
        # a list of schedules (join) adds no level; a list inside a list does
        inner = [depth + 1 if isinstance(v, (list, tuple)) else depth for v in value]
        return tuple(
            _decode_value(v, resolver, f"{where}[{i}]", d)
            for i, (v, d) in enumerate(zip(value, inner))
        )
    return value


# -- parameter validation (the shared checks, with the schedules' defaults) -----------------------
def real(
    owner: str,
    name: str,
    value: Any,
    *,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
    hi_open: bool = False,
) -> float:
    """Check a finite real parameter within optional bounds; return it as ``float``."""
    if is_real(value):
        try:
            float(value)
        except OverflowError:  # an int too large for a float
            raise _fail(owner, name, "finite", value) from None
    return number(owner, name, value, lo=lo, hi=hi, lo_open=lo_open, hi_open=hi_open)


def steps(owner: str, name: str, value: Any, *, positive: bool = True) -> int | float:
    """Check a step count (> 0, or >= 0 if not ``positive``); integral values become ``int``."""
    v = real(owner, name, value, lo=0.0, lo_open=positive)
    return int(v) if v.is_integer() and abs(v) < 2**53 else v


def choice(owner: str, name: str, value: Any, options: Sequence[Any]) -> Any:
    """Check that ``value`` is one of ``options``."""
    _choice(owner, name, value, options)
    return options[list(options).index(value)]  # the option itself (a str, not a numpy.str_)


def depth(s: Schedule) -> int:
    """How deep ``s`` nests: 1 for a family, ``1 + max(depth of its children)`` otherwise.

    Cached on the object: a schedule's children are checked (and so measured) when it is
    built, so this costs one level each time, never a walk of the whole tree.

    Example:
        >>> from lrlab.schedules import constant, warmup
        >>> depth(constant(0.1)), depth(warmup(0.5 * constant(0.1), steps=5))
        (1, 3)
    """
    cached = s.__dict__.get("_depth")
    if cached is None:
        cached = 1 + max((depth(c) for c in s.children()), default=0)
        object.__setattr__(s, "_depth", cached)
    return cached


def schedule(owner: str, name: str, value: Any) -> Schedule:
    """Check a nested schedule parameter (a number becomes a constant schedule).

    Raises:
        ValueError: if the parent would nest more than :data:`MAX_DEPTH` levels deep.
    """
    if isinstance(value, Schedule):
        if depth(value) >= MAX_DEPTH:
            raise ValueError(
                f"{owner}: {name} is nested {depth(value)} levels deep, got {value.kind}(...); "
                f"schedules nest at most {MAX_DEPTH} levels"
            )
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        from ._families import Constant

        return Constant(real(owner, name, value))
    raise _fail(owner, name, "a schedule", value)


def setp(obj: Any, name: str, value: Any) -> None:
    """Set a normalised field on a frozen dataclass (from ``__post_init__``)."""
    object.__setattr__(obj, name, value)
