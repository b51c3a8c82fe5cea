"""The size limit of generated data: generators check their sizes before allocating anything."""

from __future__ import annotations

#: the most values (rows x features) a generated input array may hold: 2**26 = 67,108,864,
#: 512 MiB in float64. Generators check their sizes against it before allocating anything.
MAX_ELEMENTS = 2**26


def check_elements(owner: str, *sizes: tuple[str, int]) -> int:
    """Return the product of ``sizes`` (``(name, value)`` pairs) if it is at most
    :data:`MAX_ELEMENTS`; otherwise raise naming every argument and its value.
    """
    total = 1
    for _, n in sizes:
        total *= n
    if total > MAX_ELEMENTS:
        names = " x ".join(name for name, _ in sizes)
        given = " x ".join(f"{name}={n}" for name, n in sizes)
        raise ValueError(
            f"{owner}: {names} must be at most {MAX_ELEMENTS} values (MAX_ELEMENTS), got "
            f"{given} = {total}"
        )
    return total
