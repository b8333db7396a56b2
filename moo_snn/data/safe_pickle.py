"""A restricted unpickler for data files that may come from others (the CIFAR python batches).

``pickle.load`` runs whatever callable a file names, so a pickle from an untrusted source can run
any code. :class:`SafeUnpickler` only resolves the few globals that a pickled dict of numpy arrays,
lists, bytes and numbers needs, and raises :class:`DataError` for anything else *before* it is
called. Files are opened with ``encoding='bytes'``, as the CIFAR batches (pickled by Python 2)
require: their keys come back as ``bytes`` (``b'data'``, ``b'labels'``).
"""

from __future__ import annotations

import builtins
import pickle
from pathlib import Path

import numpy as np

from moo_snn.errors import DataError

try:  # numpy >= 2 (and the forward-compatibility shim of numpy 1.26)
    from numpy._core.multiarray import _reconstruct
    from numpy._core.numeric import _frombuffer
except ImportError:  # pragma: no cover - older numpy
    from numpy.core.multiarray import _reconstruct
    from numpy.core.numeric import _frombuffer


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    """Stand-in for ``_codecs.encode``: Python 3 pickles ``bytes`` at protocol 2 through it."""
    if encoding != "latin1":
        raise DataError(f"refusing pickled call _codecs.encode with encoding {encoding!r}")
    return text.encode("latin1")


ALLOWED: dict[tuple[str, str], object] = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,  # pickled by numpy 1.x (the CIFAR files)
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,  # pickled by numpy 2.x
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,  # protocol 5
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1_encode,
    **{  # "__builtin__" is Python 2's name (an overridden find_class sees it unmapped)
        (module, name): getattr(builtins, name)
        for module in ("builtins", "__builtin__")
        for name in ("dict", "list", "tuple", "set", "frozenset", "bytes", "bytearray", "int", "float", "str")
    },
}
"""Every global a safe data pickle may name: (module, name) → the object used in its place."""


class SafeUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the globals in :data:`ALLOWED`."""

    def find_class(self, module: str, name: str) -> object:
        """The allowed class ``module.name`` (:data:`ALLOWED`); any other is refused by name (DataError)."""
        try:
            return ALLOWED[(module, name)]
        except KeyError:
            raise DataError(f"refusing to load {module}.{name}: not allowed in a data pickle") from None


def load_pickle(file: Path, dataset: str) -> object:
    """Unpickle ``file`` with :class:`SafeUnpickler` (``encoding='bytes'``).

    Raises :class:`DataError` naming the file when it is unreadable, corrupt or names a global
    outside :data:`ALLOWED`.
    """
    try:
        with open(file, "rb") as stream:
            return SafeUnpickler(stream, encoding="bytes").load()
    except DataError as error:
        raise DataError(f"cannot read {dataset} file {file}: {error}") from None
    except OSError as error:
        raise DataError(f"cannot read {dataset} file {file}: {error.strerror or error}") from None
    except Exception as error:  # corrupt pickles raise almost anything (EOFError, ValueError, ...)
        reason = f"{type(error).__name__}: {error}"
        raise DataError(f"cannot read {dataset} file {file}: not a valid pickle ({reason})") from None
