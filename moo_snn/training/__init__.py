"""Spiking training on torch and norse: the only subpackage that imports them.

Importing it first sets the OpenMP environment of :mod:`moo_snn.training.runtime` (a waiting
OpenMP thread sleeps instead of spinning), before any of its modules imports torch.
"""

from moo_snn.training.runtime import prepare_environment as _prepare_environment

_prepare_environment()
