"""The lab: datasets, models and sensitivity studies (see :mod:`lrlab.lab.data`)."""

__all__: list[str] = []
