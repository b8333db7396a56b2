"""Hand-written networks for the cost model: a TOML file of crossbar layers (DESIGN §4).

The cost model takes a layer list, not only a genome, so that a network from elsewhere (a VGG, a
ResNet mapped layer by layer) can be costed and compared with the search's candidates. File format::

    timesteps = 5            # T, required (integer >= 1)
    weight_bits = 4          # w, optional (default 4)

    [hardware]               # optional: overrides of the accelerator (any key of a problem's
    mode = "spikesim"        # [hardware] table, same names, types and checks)

    [[layer]]                # one table per crossbar layer, in execution order
    name = "conv1"           # optional (default "layer<k>")
    c_in = 3                 # input channels       (integer >= 1)
    c_out = 64               # output channels      (integer >= 1)
    kernel = 3               # kernel side k        (integer >= 1; a linear layer: 1)
    d_in = 32                # input map side       (integer >= 1; a linear layer: 1)
    d_out = 32               # output map side, before any pooling that follows (integer >= 1)

Every mistake (a missing or unknown key, a wrong type, no layer, a file that is not TOML or cannot
be read) is a :class:`~moo_snn.errors.ProblemError` whose one-line message names the file and the
key; the k-th ``[[layer]]`` table is called ``[layer k]`` there (counting from 1).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moo_snn.schema import parse_table, parse_toml
from moo_snn.cost.hardware import HardwareConfig
from moo_snn.errors import ProblemError
from moo_snn.layers import CrossbarLayer

TOP_LEVEL = ("timesteps", "weight_bits", "hardware", "layer")
DEFAULT_WEIGHT_BITS = 4


@dataclass(frozen=True)
class _LayerEntry:
    """One ``[[layer]]`` table (the schema that :func:`parse_table` checks)."""

    c_in: int = field(metadata={"doc": "input channels", "min": 1})
    c_out: int = field(metadata={"doc": "output channels", "min": 1})
    kernel: int = field(metadata={"doc": "kernel side k (1 for a linear layer)", "min": 1})
    d_in: int = field(metadata={"doc": "input map side (1 for a linear layer)", "min": 1})
    d_out: int = field(metadata={"doc": "output map side, before pooling (1 for a linear layer)", "min": 1})
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
        """``base`` (default: SpikeSim's constants) with the file's ``[hardware]`` keys replaced."""
        return dataclasses.replace(base or HardwareConfig(), **self.hardware_overrides)


def _positive_int(doc: dict, key: str, default: int | None, source: str) -> int:
    if key not in doc:
        if default is None:
            raise ProblemError(f"{source}: missing top-level key {key!r} (a positive integer)")
        return default
    value = doc[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ProblemError(f"{source}: {key}: expected a positive integer, found {value!r}")
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
