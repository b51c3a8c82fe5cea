"""Vectorised optimizers for a population of ``C`` models trained at once.

The population engine keeps the trainable parameters of ``C`` independent models in one tensor
``theta`` of shape ``[C, P]`` (member-major) and their gradients in ``grad`` of the same shape.
An optimizer here updates ``theta`` in place with a handful of fused in-place ``torch`` ops per
step: no Python loop over members, no host synchronisation, CPU and CUDA, float32 and float64.

Conventions shared by every optimizer:

* **Per-member hyperparameters.** A number means the same value for every member; a sequence
  (list, tuple, NumPy array, 1-D tensor) gives member ``i`` its own value. Its length must equal
  ``C`` (checked by :meth:`~PopulationOptimizer.init`). A number runs as a Python scalar (the
  very ops ``torch.optim`` runs); a sequence as a ``[C, 1]`` tensor broadcast over ``P``, even
  when its values happen to be equal, so no member's bits depend on the other members' values.
* **The learning rate is an argument of** :meth:`~PopulationOptimizer.step`: a ``[C]`` tensor
  (the schedule table's row times the plateau multiplier), never part of the configuration.
* **Functional state.** ``state = opt.init(theta)`` is a ``dict`` of tensors: ``"step"`` (a 0-d
  int64 counter of the updates done) and the buffers, named as in ``torch.optim``
  (``momentum_buffer``, ``exp_avg``, ``exp_avg_sq``, ``max_exp_avg_sq``, ``square_avg``,
  ``grad_avg``, ``sum``, ``acc_delta``), each ``[C, P]``. :meth:`~PopulationOptimizer.step`
  updates ``theta`` and the state in place; ``grad`` is never modified.
* **Two forms.** ``form="torch"`` (the default) reproduces ``torch.optim`` (torch 2.13,
  ``_single_tensor_*`` code paths) formula for formula; ``form="keras"`` reproduces Keras 3
  (3.15, ``keras/src/optimizers/*.py`` and the torch backend's
  ``keras/src/backend/torch/optimizers/torch_*.py``) where Keras computes something different:
  the learning rate inside SGD's and RMSprop's momentum buffers, Adam's ``epsilon`` added to
  ``sqrt(v)`` without bias correction, ``epsilon`` inside the square root of RMSprop and
  Adagrad, and weight decay that is always decoupled (``p -= lr * wd * p`` before the update,
  ``BaseOptimizer._apply_weight_decay``). Defaults are ``torch.optim``'s in both forms; pass
  Keras' own defaults explicitly when you want them (see ``docs/optimizers.md``).
"""

from ._adagrad import Adadelta as Adadelta
from ._adagrad import Adagrad as Adagrad
from ._adam import Adam as Adam
from ._adam import AdamW as AdamW
from ._base import Coef as Coef
from ._base import Flag as Flag
from ._base import Form as Form
from ._base import Hyper as Hyper
from ._base import PopulationOptimizer as PopulationOptimizer
from ._base import Value as Value
from ._kernel import KernelUpdate as KernelUpdate
from ._registry import OPTIMIZERS as OPTIMIZERS
from ._registry import optimizer_from_config as optimizer_from_config
from ._rmsprop import RMSprop as RMSprop
from ._sgd import SGD as SGD
from ._stepper import Stepper as Stepper

__all__ = [
    "OPTIMIZERS",
    "SGD",
    "Adadelta",
    "Adagrad",
    "Adam",
    "AdamW",
    "KernelUpdate",
    "PopulationOptimizer",
    "RMSprop",
    "Stepper",
    "optimizer_from_config",
]
