"""lrlab.torch.LrlabScheduler inside Hugging Face ``transformers.Trainer``.

Trainer takes ``optimizers=(optimizer, scheduler)``, calls ``scheduler.step()`` after every
optimizer step (once per ``gradient_accumulation_steps`` batches), logs the first param
group's rate and saves ``scheduler.state_dict()`` in its checkpoints. These
tests pin that the rate used by every update is the schedule's, with gradient accumulation and
across a resume from a checkpoint.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("accelerate")

import lrlab.schedules as sch  # noqa: E402
from lrlab.torch import LrlabScheduler  # noqa: E402


class Regressor(torch.nn.Module):
    """A model as Trainer wants it: keyword inputs in, ``{"loss": ...}`` out."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Sequential(
            torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)
        )

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"loss": torch.nn.functional.mse_loss(self.net(x), labels)}


class Rows(torch.utils.data.Dataset):
    def __init__(self, n: int = 24) -> None:
        g = torch.Generator().manual_seed(1)
        self.x, self.y = torch.randn(n, 3, generator=g), torch.randn(n, 1, generator=g)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"x": self.x[i], "labels": self.y[i]}


class UsedRates(transformers.TrainerCallback):
    """The learning rate of each update, read right after ``optimizer.step()`` (before Trainer
    steps the scheduler)."""

    def __init__(self) -> None:
        self.rates: list[list[float]] = []

    def on_optimizer_step(self, args, state, control, optimizer=None, **kwargs):
        self.rates.append([g["lr"] for g in optimizer.param_groups])


def _train(tmp_path, schedule, *, steps: int, accumulate: int = 1, resume=None, save_at=None):
    model = Regressor()
    opt = torch.optim.AdamW(
        [
            {"params": model.net[0].parameters()},
            {"params": model.net[2].parameters()},
        ],
        lr=1.0,
    )
    sched = LrlabScheduler(opt, schedule, scales=[0.1, 1.0])
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path / "out"),
        per_device_train_batch_size=4,
        gradient_accumulation_steps=accumulate,
        max_steps=steps,
        logging_steps=1,
        save_strategy="steps" if save_at else "no",
        save_steps=save_at or 500,
        report_to=[],
        use_cpu=True,
        disable_tqdm=True,
        seed=0,
        dataloader_num_workers=0,
    )
    used = UsedRates()
    trainer = transformers.Trainer(
        model=model,
        args=args,
        train_dataset=Rows(),
        optimizers=(opt, sched),
        callbacks=[used],
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.train(resume_from_checkpoint=resume)
    messages = [str(w.message) for w in caught]
    assert not [m for m in messages if "lr_scheduler" in m or "LrlabScheduler" in m], messages
    logged = [e["learning_rate"] for e in trainer.state.log_history if "learning_rate" in e]
    return np.array(used.rates), np.array(logged), sched


@pytest.mark.parametrize("accumulate", [1, 3])
def test_every_update_uses_the_schedule(tmp_path, accumulate):
    s = sch.warmup_cosine(peak=0.01, warmup_steps=3, total_steps=10)
    used, logged, sched = _train(tmp_path, s, steps=10, accumulate=accumulate)
    k = np.arange(10)  # optimizer steps, whatever the accumulation
    np.testing.assert_array_equal(used, np.stack([s(k) * 0.1, s(k)], axis=1))
    # Trainer logs the first group's rate: the rate of the update each logged step made in
    # recent transformers, the rate after its scheduler step (the next update's) in older ones
    # (4.43 does); either way it is the schedule's rate, never the optimizer's own lr
    this, after = s(k) * 0.1, s(k + 1) * 0.1
    assert np.allclose(logged, this, rtol=1e-12, atol=0) or np.allclose(
        logged, after, rtol=1e-12, atol=0
    ), (logged, this, after)
    assert sched.last_epoch == 10


def test_resume_from_a_trainer_checkpoint_continues_the_schedule(tmp_path):
    s = sch.one_cycle(peak=0.02, total_steps=12)
    full, _, _ = _train(tmp_path / "full", s, steps=12)
    _train(tmp_path / "part", s, steps=12, save_at=5)  # leaves checkpoint-5 (and -10)
    checkpoint = tmp_path / "part" / "out" / "checkpoint-5"
    assert (checkpoint / "scheduler.pt").exists()
    rest, _, sched = _train(tmp_path / "part", s, steps=12, resume=str(checkpoint))
    np.testing.assert_array_equal(rest, full[5:])
    assert sched.last_epoch == 12
