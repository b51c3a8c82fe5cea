"""Where a torch population step's time goes at C = 1024: each operation of the blobs network's
(2-50-3, batch 32) fused step timed alone, on tensors of the step's shapes.

Every pass over the ``[C, 50, B]`` hidden layer is printed with the bytes it moves and the
rate that implies, next to the optimizer's update over ``theta [C, 303]``; the divergence
check of the engines (a row sum, then the element-wise check where a sum is not finite) is
timed against ``isfinite(theta).all(dim=1)`` on a wide cohort (256 members of 784-300-100-10).

    python benchmarks/step_ops.py [--members 1024] [--threads 1] [--repeats 50]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch


def timed(fn: Callable[[], Any], repeats: int) -> float:
    """Median microseconds of ``fn`` over 5 rounds of ``repeats`` calls, after one call."""
    fn()
    rounds = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(repeats):
            fn()
        rounds.append((time.perf_counter() - t0) / repeats * 1e6)
    return statistics.median(rounds)


def step_ops(members: int, repeats: int) -> list[tuple[str, float, int]]:
    """(operation, microseconds, bytes moved) for the step's passes at ``members`` members."""
    C, H, K, B, D = members, 50, 3, 32, 2
    gen = torch.Generator().manual_seed(0)
    theta = torch.randn(C, D * H + H + H * K + K, generator=gen)
    w1 = torch.randn(C * H, D + 1, generator=gen)
    xa = torch.randn(D + 1, B, generator=gen)
    w2 = theta[:, D * H + H : D * H + H + H * K].view(C, K, H)
    b2 = theta[:, -K:]
    h = torch.randn(C, H, B, generator=gen).relu_()
    dz = torch.randn(C, K, B, generator=gen)
    flat, z = torch.empty(C * H, B), torch.empty(C, K, B)
    da, gw = torch.empty(C, H, B), torch.empty(C, K, H)
    lr = torch.full((C, 1), 0.01)
    act = C * H * B * 4  # bytes of one hidden-layer tensor
    rows = [
        ("layer 1 mm [C*50, 3] @ [3, B]", lambda: torch.mm(w1, xa, out=flat), act),
        ("relu_ of the hidden layer", lambda: flat.relu_(), 2 * act),
        ("layer 2 baddbmm W2 @ h", lambda: torch.baddbmm(b2.unsqueeze(-1), w2, h, out=z), act),
        ("dW2 bmm dz @ h^T", lambda: torch.bmm(dz, h.transpose(1, 2), out=gw), act),
        ("dA bmm W2^T @ dz", lambda: torch.bmm(w2.transpose(1, 2), dz, out=da), act),
        (
            "threshold_backward (relu mask)",
            lambda: torch.ops.aten.threshold_backward.grad_input(da, h, 0, grad_input=da),
            3 * act,
        ),
        ("dW1 mm xa @ dA^T", lambda: torch.mm(xa, da.reshape(C * H, B).T), act),
        ("SGD update theta -= lr * grad", lambda: theta.addcmul_(theta, lr), 3 * theta.numel() * 4),
    ]
    return [(name, timed(fn, repeats), moved) for name, fn, moved in rows]


def finite_check(repeats: int) -> tuple[float, float]:
    """Microseconds of ``isfinite(theta).all(dim=1)`` and of the engines' row-sum check, on a
    256-member cohort of 784-300-100-10 (266,610 weights each)."""
    theta = torch.randn(256, 266_610, generator=torch.Generator().manual_seed(0))

    def by_sum() -> torch.Tensor:
        ok = torch.isfinite(theta.sum(dim=1))
        if not bool(ok.all()):
            rows = torch.nonzero(~ok).flatten()
            ok[rows] = torch.isfinite(theta[rows]).all(dim=1)
        return ok

    assert torch.equal(by_sum(), torch.isfinite(theta).all(dim=1))
    return timed(lambda: torch.isfinite(theta).all(dim=1), repeats), timed(by_sum, repeats)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--members", type=int, default=1024, help="cohort size C (default 1024)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--repeats", type=int, default=50, help="calls per round (default 50)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"one step's operations, blobs 2-50-3, C = {args.members}, batch 32, "
        f"{args.threads} thread(s); median of 5 rounds of {args.repeats} calls"
    )
    total = 0.0
    for name, us, moved in step_ops(args.members, args.repeats):
        total += us
        print(f"  {name:34s} {us:9.1f} us  {moved / 1e6:6.1f} MB  {moved / us / 1e3:6.1f} GB/s")
    print(f"  {'sum':34s} {total:9.1f} us")
    plain, by_sum = finite_check(max(1, args.repeats // 10))
    print(
        f"divergence check, 256 x 266,610 float32: isfinite().all() {plain / 1e3:.1f} ms, "
        f"row sums {by_sum / 1e3:.1f} ms ({plain / by_sum:.0f}x)"
    )


if __name__ == "__main__":
    main()
