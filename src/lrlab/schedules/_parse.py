"""``parse``: the safe text form of schedules (what ``repr`` prints), for CLIs and study files.

The text is read with Python's own tokenizer into a syntax tree (:mod:`ast`) and then
interpreted by a whitelist: calls of known schedule names with literal arguments, lists, and
``*`` / ``/`` between schedules and numbers. Nothing is evaluated as Python code.
"""

from __future__ import annotations

import ast
import difflib
import inspect
import re
import warnings
from collections.abc import Callable, Mapping
from typing import Any

from ._base import MAX_DEPTH, REGISTRY, FunctionResolver, Schedule
from ._compose import by_epoch, clip, join, shift, warmup
from ._presets import noam, one_cycle, one_cycle_fastai, one_cycle_momentum, warmup_cosine, wsd

#: functions the text form may call besides the registered kinds
PRESETS: dict[str, Callable[..., Schedule]] = {
    "join": join,
    "warmup": warmup,
    "clip": clip,
    "shift": shift,
    "by_epoch": by_epoch,
    "one_cycle": one_cycle,
    "one_cycle_momentum": one_cycle_momentum,
    "one_cycle_fastai": one_cycle_fastai,
    "warmup_cosine": warmup_cosine,
    "wsd": wsd,
    "noam": noam,
}


class ScheduleSyntaxError(ValueError):
    """A schedule text that cannot be read; the message names the position and the problem."""

    def __init__(self, text: str, col: int, message: str) -> None:
        self.text, self.col = text, col
        line = text.splitlines()[0] if text.strip() else text
        pointer = f"\n  {line}\n  {' ' * col}^" if "\n" not in text.strip() else ""
        super().__init__(f"column {col + 1}: {message}{pointer}")


def known_names() -> list[str]:
    """Every name the text form can call."""
    return sorted(set(REGISTRY) | set(PRESETS))


def parse(
    text: str,
    *,
    functions: Mapping[str, Callable[..., Any]] | None = None,
    allow_import: bool = False,
) -> Schedule:
    """Read a schedule from its text form, the expression ``repr`` prints.

    Args:
        text: e.g. ``"warmup(cosine(init=0.1, decay_steps=900), steps=100)"`` or
            ``"0.5 * exponential(init=0.1, decay_rate=0.96, decay_steps=100)"``.
        functions: functions that ``custom(fn='module:qualname')`` and ``recurrence(...)`` may
            name, keyed by that name.
        allow_import: import such functions by name when they are not in ``functions``.

    Returns:
        The schedule; ``parse(repr(s)) == s`` for every schedule ``s``.

    Raises:
        ScheduleSyntaxError: (a ``ValueError``) naming the column and the name or value that is
            wrong; also for text nested deeper than Python's parser or lrlab
            (:data:`~lrlab.schedules._base.MAX_DEPTH` levels of schedules) allows. Python's
            tokenizer warnings (``SyntaxWarning: invalid decimal literal`` for ``"1if"``) are
            never printed: the text is either read or refused with this error.

    Example:
        >>> from lrlab.schedules import parse
        >>> parse("warmup(cosine(init=0.1, decay_steps=900), steps=100)")
        warmup(cosine(init=0.1, decay_steps=900), steps=100)
        >>> try:
        ...     parse("cosin(init=0.1, decay_steps=9)")
        ... except ValueError as e:
        ...     print(e)
        column 1: unknown schedule 'cosin' (did you mean 'cosine'?)
          cosin(init=0.1, decay_steps=9)
          ^
    """
    if not isinstance(text, str):
        raise TypeError(f"parse: text must be a str, got {type(text).__name__}")
    text = text.strip()
    too_deep = f"the expression is nested too deeply (schedules nest at most {MAX_DEPTH} levels)"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate: Python's parser cannot read it
        raise ScheduleSyntaxError(text, exc.start, "the text is not valid Unicode") from None
    try:
        tree = _ast(text)
        reader = _Reader(text, FunctionResolver(functions, allow_import))
        value = reader.value(tree.body)
    except SyntaxError as exc:
        col = max((exc.offset or 1) - 1, 0)
        if "too many nested" in str(exc.msg):  # the tokenizer's limit on parentheses
            raise ScheduleSyntaxError(text, col, too_deep) from None
        raise ScheduleSyntaxError(text, col, f"invalid syntax ({exc.msg})") from None
    except (RecursionError, MemoryError):
        raise ScheduleSyntaxError(text, 0, too_deep) from None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return REGISTRY["constant"](value)
        except ValueError as exc:
            raise ScheduleSyntaxError(text, 0, str(exc)) from None
    if not isinstance(value, Schedule):
        raise ScheduleSyntaxError(text, 0, f"expected a schedule, got {value!r}")
    return value


def _ast(text: str) -> ast.Expression:
    """``ast.parse(text, mode="eval")`` with the tokenizer's warnings kept in.

    Python warns (``SyntaxWarning``, ``DeprecationWarning`` before 3.12) about text such as
    ``1if`` or ``"\\d"`` while it tokenizes; recorded here, they never reach stderr, and under
    ``-W error`` they do not turn into a different error.
    """
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        return ast.parse(text, mode="eval")


class _Reader:
    def __init__(self, text: str, resolver: FunctionResolver) -> None:
        self.text = text
        self.resolver = resolver

    def error(self, node: ast.AST, message: str) -> ScheduleSyntaxError:
        return ScheduleSyntaxError(self.text, getattr(node, "col_offset", 0), message)

    def value(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str, bool)):
            return node.value
        if isinstance(node, ast.Constant) and node.value is None:
            return None
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            v = self.value(node.operand)
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise self.error(node, "a sign can only stand before a number")
            return -v if isinstance(node.op, ast.USub) else v
        if isinstance(node, (ast.List, ast.Tuple)):
            return tuple(self.value(e) for e in node.elts)
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mult, ast.Div)):
            return self.binop(node)
        if isinstance(node, ast.Call):
            return self.call(node)
        if isinstance(node, ast.Name):
            raise self.error(
                node,
                f"unknown name {node.id!r}; schedules are called, e.g. {node.id}(...)"
                if node.id in known_names()
                else f"unknown name {node.id!r}",
            )
        raise self.error(node, f"not allowed in a schedule: {ast.unparse(node)!r}")

    def binop(self, node: ast.BinOp) -> Any:
        left, right = self.value(node.left), self.value(node.right)
        try:
            result = left * right if isinstance(node.op, ast.Mult) else left / right
        except TypeError:
            result = NotImplemented
        except (ValueError, ArithmeticError) as exc:
            raise self.error(node, str(exc)) from None
        if result is NotImplemented or isinstance(result, (str, tuple)):
            raise self.error(
                node,
                f"cannot combine {ast.unparse(node)!r}: '*' takes schedules "
                "and numbers, '/' a schedule and a number",
            )
        return result

    def call(self, node: ast.Call) -> Any:
        if not isinstance(node.func, ast.Name):
            raise self.error(node, f"not allowed in a schedule: {ast.unparse(node.func)!r}")
        name = node.func.id
        target: Callable[..., Any] | None = PRESETS.get(name) or REGISTRY.get(name)
        if target is None:
            close = difflib.get_close_matches(name, known_names(), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise self.error(node, f"unknown schedule {name!r}{hint}")
        args = [self.value(a) for a in node.args]
        kwargs = {}
        accepted = _parameters(target)
        for kw in node.keywords:
            if kw.arg is None:
                raise self.error(node, "'**' is not allowed in a schedule")
            if accepted is not None and kw.arg not in accepted:
                close = difflib.get_close_matches(kw.arg, accepted, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise self.error(
                    kw,
                    f"{name}: unknown parameter {kw.arg!r}{hint}; "
                    f"parameters: {', '.join(accepted)}",
                )
            kwargs[kw.arg] = self.value(kw.value)
        cls = REGISTRY.get(name)
        try:
            if cls is not None and target is cls:
                fields = _field_names(cls)
                kwargs = {k: cls._decode(k, v, self.resolver) for k, v in kwargs.items()}
                args = [cls._decode(f, v, self.resolver) for f, v in zip(fields, args)] + args[
                    len(fields) :
                ]
            return target(*args, **kwargs)
        except TypeError as exc:
            msg = f"{name}: {_plain_type_error(exc)}"
            raise self.error(_blamed(node, msg), msg) from None
        except (ValueError, ArithmeticError) as exc:
            raise self.error(_blamed(node, str(exc)), str(exc)) from None


def _parameters(target: Callable[..., Any]) -> list[str] | None:
    """The keyword names ``target`` accepts (``None``: it takes any)."""
    try:
        params = inspect.signature(target).parameters.values()
    except (TypeError, ValueError):  # pragma: no cover - every target has a signature
        return None
    if any(p.kind is p.VAR_KEYWORD for p in params):  # pragma: no cover - none does
        return None
    return [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def _blamed(node: ast.Call, message: str) -> ast.AST:
    """The keyword argument an error message names, else the call itself."""
    for kw in node.keywords:
        if kw.arg and re.search(rf"\b{re.escape(kw.arg)}\b", message):
            return kw
    return node


def _field_names(cls: type) -> list[str]:
    import dataclasses

    return [f.name for f in dataclasses.fields(cls) if f.init]


def _plain_type_error(exc: TypeError) -> str:
    """``"Cosine.__init__() got an unexpected keyword ..."`` without the Python internals."""
    return str(exc).split("() ", 1)[-1]
