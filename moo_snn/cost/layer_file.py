"""Hand-written networks for the cost model: a TOML file of crossbar layers (DESIGN §4).

The cost model takes a layer list, not only a genome, so that a network from elsewhere (a VGG, a
ResNet mapped layer by layer) can be costed and compared with the search's candidates. File format::

    timesteps = 5            # T, required (integer 1 to 256)
    weight_bits = 4          # w, optional (default 4; integer 1 to 16)

    [hardware]               # optional: overrides of the accelerator (any key of a problem's
    mode = "spikesim"        # [hardware] table, same names, types and checks)

    [[layer]]                # one table per crossbar layer, in execution order
    name = "conv1"           # optional (default "layer<k>")
    c_in = 3                 # input channels       (integer 1 to 2**24)
    c_out = 64               # output channels      (integer 1 to 2**24)
    kernel = 3               # kernel side k        (integer 1 to 31; a linear layer: 1)
    d_in = 32                # input map side       (integer 1 to 4096; a linear layer: 1)
    d_out = 32               # output map side, before any pooling that follows (integer 1 to 4096)

The bounds: T and w as an architecture's (:data:`~moo_snn.architecture.FIELD_BOUNDS`); channels up to
2**24 = 16,777,216, twice the widest layer the search builds (a classifier reading 2 x 4096 channels on
32 x 32 positions: 8,388,608 inputs), which keeps every count within int64; kernels up to 31
(:data:`~moo_snn.cost.hardware.MAX_KERNEL`); map sides up to 4096 pixels, past any input an SNN is run
on (ImageNet 224, detection inputs of about 1,333).

Every mistake (a missing or unknown key, a wrong type, a value out of its bounds, no layer, a file that
is not TOML or cannot be read) is a :class:`~moo_snn.errors.ProblemError` whose one-line message names the file and the
key; the k-th ``[[layer]]`` table is called ``[layer k]`` there (counting from 1).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moo_snn.schema import parse_table, parse_toml
from moo_snn.architecture import FIELD_BOUNDS
from moo_snn.cost.hardware import KERNEL_SOURCE, MAX_KERNEL, HardwareConfig
from moo_snn.errors import ProblemError
from moo_snn.layers import CrossbarLayer

TOP_LEVEL = ("timesteps", "weight_bits", "hardware", "layer")
DEFAULT_WEIGHT_BITS = 4
MAX_CHANNELS = 2**24
MAX_SIDE = 4096
CHANNELS_SOURCE = "twice the widest layer the search builds, 2 x 4096 channels on 32 x 32 positions"
SIDE_SOURCE = "past any input an SNN is run on (ImageNet 224, detection inputs of about 1,333)"


@dataclass(frozen=True)
class _LayerEntry:
    """One ``[[layer]]`` table (the schema that :func:`parse_table` checks)."""

    c_in: int = field(metadata={"doc": "input channels", "min": 1, "max": MAX_CHANNELS, "max_source": CHANNELS_SOURCE})
    c_out: int = field(metadata={"doc": "output channels", "min": 1, "max": MAX_CHANNELS, "max_source": CHANNELS_SOURCE})
    kernel: int = field(metadata={"doc": "kernel side k (1 for a linear layer)", "min": 1, "max": MAX_KERNEL, "max_source": KERNEL_SOURCE})
    d_in: int = field(metadata={"doc": "input map side (1 for a linear layer)", "min": 1, "max": MAX_SIDE, "max_source": SIDE_SOURCE})
    d_out: int = field(metadata={"doc": "output map side, before pooling (1 for a linear layer)", "min": 1, "max": MAX_SIDE, "max_source": SIDE_SOURCE})
    name: str = field(default="", metadata={"doc": "layer name (default layer<k>)"})


@dataclass(frozen=True)
class LayerFile:
    """A hand-written network read by :func:`load_layer_file`.

    Attributes
    ----------
    layers : tuple of CrossbarLayer
        The crossbar layers, in execution order.
    timesteps : int
        T.
    weight_bits : int
        w, the bits of every weight.
    hardware_overrides : dict
        The keys the file's ``[hardware]`` table sets, checked and converted (empty if none).
    source : str
        The file's path, as given.
    """

    layers: tuple[CrossbarLayer, ...]
    timesteps: int
    weight_bits: int
    hardware_overrides: dict[str, Any]
    source: str

    def hardware(self, base: HardwareConfig | None = None) -> HardwareConfig:
        """``base`` (default: SpikeSim's constants) with the file's ``[hardware]`` keys replaced.

        Raises
        ------
        ProblemError
            The result breaks :meth:`HardwareConfig.check` (more ADCs per PE than crossbar columns, say).
        """
        hardware = dataclasses.replace(base or HardwareConfig(), **self.hardware_overrides)
        hardware.check(self.source)
        return hardware


def _positive_int(doc: dict, key: str, default: int | None, source: str) -> int:
    """A top-level integer within an architecture's bounds for it (:data:`~moo_snn.architecture.FIELD_BOUNDS`)."""
    low, high = FIELD_BOUNDS[key]
    if key not in doc:
        if default is None:
            raise ProblemError(f"{source}: missing top-level key {key!r} (an integer from {low} to {high})")
        return default
    value = doc[key]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ProblemError(f"{source}: {key}: expected an integer from {low} to {high} (architecture.FIELD_BOUNDS, "
                           f"as an architecture's), found {value!r}")
    return value


def parse_layer_file(text: str, source: str = "<string>") -> LayerFile:
    """Parse the TOML ``text`` of a layer file; ``source`` names it in errors."""
    doc = parse_toml(text, source, TOP_LEVEL)
    timesteps = _positive_int(doc, "timesteps", None, source)
    weight_bits = _positive_int(doc, "weight_bits", DEFAULT_WEIGHT_BITS, source)

    hardware_table = doc.get("hardware", {})
    checked = parse_table(HardwareConfig, hardware_table, "hardware", source)  # raises on a bad key
    overrides = {key: getattr(checked, key) for key in hardware_table}

    entries = doc.get("layer")
    if entries is None:
        raise ProblemError(f"{source}: no [[layer]] table; give one per crossbar layer (c_in, c_out, kernel, d_in, d_out)")
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ProblemError(f"{source}: layer: expected [[layer]] tables (an array of tables), found {entries!r}")
    if not entries:
        raise ProblemError(f"{source}: no [[layer]] table; give one per crossbar layer (c_in, c_out, kernel, d_in, d_out)")
    layers = []
    for k, entry in enumerate(entries, start=1):
        spec = parse_table(_LayerEntry, entry, f"layer {k}", source)
        name = spec.name or f"layer{k}"
        layers.append(CrossbarLayer(name, spec.c_in, spec.c_out, spec.kernel, spec.d_in, spec.d_out))
    names = [layer.name for layer in layers]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ProblemError(f"{source}: [[layer]] names must be unique, found {', '.join(map(repr, duplicates))} twice or more")
    return LayerFile(tuple(layers), timesteps, weight_bits, overrides, source)


def load_layer_file(path: str | Path) -> LayerFile:
    """Read and check a layer file (format: module docstring).

    Raises
    ------
    ProblemError
        The file is missing, unreadable, not TOML, or a key is missing, unknown or of the wrong type.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = "no such file" if isinstance(exc, FileNotFoundError) else str(exc)
        raise ProblemError(f"{path}: cannot read the layer file: {reason}") from None
    return parse_layer_file(text, source=str(path))
