"""Problem files: TOML → frozen, validated :class:`ProblemSpec`.

A problem file has top-level ``name``, ``description``, ``reference_arch`` and the tables
``[data]``, ``[space]``, ``[training]``, ``[hardware]``, ``[objectives]``, ``[constraints]``,
``[search]`` and the optional ``[fidelity]``. ``moo-snn problems --keys`` lists every key with its default and meaning.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from moo_snn.architecture import FIELD_BOUNDS, OPS, Architecture
from moo_snn.schema import parse_table, parse_toml
from moo_snn.cost.hardware import HardwareConfig
from moo_snn.cost.nonideal import NonidealConfig
from moo_snn.errors import ArchitectureError, ProblemError, did_you_mean
from moo_snn.layers import NetworkInput
from moo_snn.resources import is_shipped_problem, shipped_problems

DATASETS = {
    # name: (channels, side, classes) of the images as stored
    "digits": (1, 8, 10),
    "cifar10": (3, 32, 10),
    "cifar100": (3, 32, 100),
    "tinyimagenet": (3, 64, 200),
    "npz": None,
}
METRICS = {
    # name: (units, direction) of the built-in objectives and constraints
    "accuracy": ("1", "maximize"),
    "accuracy_nonideal": ("1", "maximize"),  # on non-ideal crossbars: [nonideal], moo_snn.training.nonideal
    "params": ("1", "minimize"),
    "memory_kB": ("KiB", "minimize"),  # 1024 bytes (DESIGN §4: params·w / 8 / 1024); the key keeps its name
    "area_mm2": ("mm2", "minimize"),
    "latency_ms": ("ms", "minimize"),
    "energy_uJ": ("uJ", "minimize"),
}
FIXED_TEST_SPLITS = {
    "cifar10": "test_batch, 10,000 images",
    "cifar100": "the test file, 10,000 images",
    "tinyimagenet": "val/, 10,000 images",
}
"""Data sets whose test split is their own (``[data] test_fraction`` would be ignored: it is an error there)."""
SURROGATES = ("super", "tanh", "circ", "triangle", "heavi_erfc")
SEED_MAX = 2**32 - 1
"""The largest seed: scikit-learn's ``random_state`` (a legacy ``numpy.random.RandomState``, which the
predictor's ensemble is seeded with) takes 0 to 2**32 - 1; numpy's ``default_rng``, torch's
``manual_seed`` and the results file's int64 ``seed`` attribute take more."""


@dataclass(frozen=True)
class DataSpec:
    """The ``[data]`` table: which data set, where it lies, how it is split.

    Every field is a key of the table, with its default, bounds and meaning in its ``metadata`` (``moo-snn problems --keys`` prints them); :func:`moo_snn.schema.parse_table` checks a table against it.
    """

    dataset: str = field(metadata={"doc": "data set", "choices": tuple(DATASETS)})
    path: str = field(default="", metadata={"doc": "folder (cifar10, cifar100, tinyimagenet) or .npz file (none for digits); a relative path is read from the problem file's folder, or, for a problem shipped with moo-snn (given by name, e.g. cifar10-hasnas), from the current folder"})
    val_fraction: float = field(default=0.15, metadata={"doc": "fraction held out for validation (selection uses it): of all the samples where the data set has no test split of its own (digits, npz without x_test/y_test; e.g. digits: ceil(0.15 x 1797) = 270), else of the training samples (cifar10, cifar100, tinyimagenet, npz with x_test/y_test)", "min": 0.01, "max": 0.5})
    test_fraction: float = field(default=0.2, metadata={"doc": "fraction of all the samples held out for test where the data set has no test split of its own (digits; an .npz file without x_test and y_test: one with them is tested on them and ignores this); an error with cifar10, cifar100 and tinyimagenet, whose test splits are fixed", "min": 0.01, "max": 0.5})
    split_seed: int = field(default=0, metadata={"doc": "seed of the train/validation/test split", "min": 0})
    max_train: int = field(default=0, metadata={"doc": "keep at most this many training samples (0: all)", "min": 0})
    channels: int = field(default=0, metadata={"doc": "npz only (an error with the other data sets, whose images fix it): image channels", "min": 0})
    side: int = field(default=0, metadata={"doc": "npz only (an error with the other data sets, whose images fix it): image side", "min": 0})
    classes: int = field(default=0, metadata={"doc": "npz only (an error with the other data sets, whose images fix it): number of classes", "min": 0})


def _bounds(name: str) -> dict:
    """``min`` and ``max`` of a ``[space]`` choice list: the architecture field's :data:`FIELD_BOUNDS`."""
    low, high = FIELD_BOUNDS[name]
    return {"min": low, "max": high}


@dataclass(frozen=True)
class SpaceSpec:
    """The ``[space]`` table: the choices of every gene of the genome (DESIGN §3).

    Every field is a key of the table, with its default, bounds and meaning in its ``metadata`` (``moo-snn problems --keys`` prints them); :func:`moo_snn.schema.parse_table` checks a table against it.
    """

    ops: tuple[str, ...] = field(default=("zero", "skip", "conv1x1", "conv3x3"), metadata={"doc": "operations an edge may carry", "choices": OPS, "nonempty": True})
    backward: bool = field(default=True, metadata={"doc": "allow backward (temporal feedback) edges"})
    channels: tuple[int, ...] = field(default=(8, 16, 32), metadata={"doc": "choices of C, the first cell's channels", **_bounds("channels"), "nonempty": True})
    timesteps: tuple[int, ...] = field(default=(2, 4), metadata={"doc": "choices of T", **_bounds("timesteps"), "nonempty": True})
    weight_bits: tuple[int, ...] = field(default=(4, 8), metadata={"doc": "choices of weight precision [bits]", **_bounds("weight_bits"), "nonempty": True})
    final_pool: tuple[int, ...] = field(default=(1, 2), metadata={"doc": "choices of the final average-pool side s", **_bounds("final_pool"), "nonempty": True})
    hidden: tuple[int, ...] = field(default=(0,), metadata={"doc": "choices of the classifier hidden width (0: one linear layer)", **_bounds("hidden"), "nonempty": True})
    stem_stride: int = field(default=1, metadata={"doc": "stride of the stem conv (2 for 64x64 inputs, as SNASNet)", "min": 1, "max": 8})
    crossbar_size: tuple[int, ...] = field(default=(), metadata={"doc": "co-design gene: crossbar sizes to search (empty: fixed by [hardware])", **_bounds("crossbar_size")})
    cell_bits: tuple[int, ...] = field(default=(), metadata={"doc": "co-design gene: bits per RRAM cell (empty: fixed by [hardware])", **_bounds("cell_bits")})
    adc_bits: tuple[int, ...] = field(default=(), metadata={"doc": "co-design gene: ADC bits (empty: fixed by [hardware])", **_bounds("adc_bits")})


@dataclass(frozen=True)
class TrainingSpec:
    """The ``[training]`` table: the full-training recipe and the LIF neuron (DESIGN §3).

    Every field is a key of the table, with its default, bounds and meaning in its ``metadata`` (``moo-snn problems --keys`` prints them); :func:`moo_snn.schema.parse_table` checks a table against it.
    """

    epochs: int = field(default=10, metadata={"doc": "training epochs", "min": 1, "max": 10000})
    batch_size: int = field(default=64, metadata={"doc": "mini-batch size", "min": 1, "max": 65536})
    eval_batch_size: int = field(default=256, metadata={"doc": "batch size for validation and test", "min": 1, "max": 65536})
    optimizer: str = field(default="sgd", metadata={"doc": "optimiser", "choices": ("sgd", "adam", "adamw")})
    lr: float = field(default=0.1, metadata={"doc": "initial learning rate", "min": 1e-9, "max": 10.0})
    momentum: float = field(default=0.9, metadata={"doc": "SGD momentum", "min": 0.0, "max": 0.999})
    nesterov: bool = field(default=False, metadata={"doc": "SGD Nesterov momentum"})
    weight_decay: float = field(default=5e-4, metadata={"doc": "weight decay", "min": 0.0, "max": 1.0})
    schedule: str = field(default="cosine", metadata={"doc": "learning-rate schedule over all steps", "choices": ("cosine", "constant")})
    min_lr_factor: float = field(default=0.01, metadata={"doc": "cosine schedule ends at this fraction of lr", "min": 0.0, "max": 1.0})
    augment: str = field(default="none", metadata={"doc": "data augmentation", "choices": ("none", "crop_flip")})
    crop_padding: int = field(default=4, metadata={"doc": "crop_flip: zero padding before the random crop [pixels]", "min": 0, "max": 64})
    dropout: float = field(default=0.0, metadata={"doc": "dropout before the classifier", "min": 0.0, "max": 0.95})
    label_smoothing: float = field(default=0.0, metadata={"doc": "cross-entropy label smoothing", "min": 0.0, "max": 0.5})
    grad_clip: float = field(default=0.0, metadata={"doc": "clip the gradient norm to this (0: off)", "min": 0.0})
    surrogate: str = field(default="super", metadata={"doc": "norse surrogate-gradient method", "choices": SURROGATES})
    surrogate_alpha: float = field(default=100.0, metadata={"doc": "surrogate-gradient sharpness (norse alpha)", "min": 1e-6})
    tau_mem_inv: float = field(default=750.0, metadata={"doc": "LIF inverse membrane time constant [1/s]; with dt = 1 ms, 750 gives v <- v + 0.75 (x - v)", "min": 1e-6, "max": 1000.0})
    v_th: float = field(default=1.0, metadata={"doc": "LIF threshold", "min": 1e-6})
    weight_noise: float = field(default=0.0, metadata={"doc": "noise-aware training: std of the Gaussian noise added to the quantised weights in every training pass, as a fraction of max|W| (0: off; about 2 x [nonideal] conductance_sigma matches the devices; moo_snn.training.nonideal.inject_weight_noise)", "min": 0.0, "max": 1.0})
    autocast: str = field(default="none", metadata={"doc": "mixed precision: 'bf16' runs convs and linears in bfloat16 (torch.autocast; for GPUs, changes the numbers), 'none' float32", "choices": ("none", "bf16")})
    channels_last: bool = field(default=False, metadata={"doc": "channels-last memory layout for convs (faster on GPUs with tensor cores; same maths, other summation order)"})


@dataclass(frozen=True)
class ObjectivesSpec:
    """The ``[objectives]`` table: the names of the objectives to optimise, in order.

    Every field is a key of the table, with its default, bounds and meaning in its ``metadata`` (``moo-snn problems --keys`` prints them); :func:`moo_snn.schema.parse_table` checks a table against it.
    """

    names: tuple[str, ...] = field(default=("accuracy", "energy_uJ"), metadata={"doc": "objectives: built-ins (" + ", ".join(METRICS) + "), installed plug-ins ('moo_snn.objectives' entry points) or 'module:function' (runs only with --allow-code)", "nonempty": True})


@dataclass(frozen=True)
class Constraint:
    """``name`` must stay at most (``kind='max'``) or at least (``kind='min'``) ``limit``."""

    name: str
    limit: float
    kind: str = "max"

    def violation(self, value):
        """pymoo's G: ``value - limit`` for an upper bound, ``limit - value`` for a lower one (≤ 0 is met)."""
        return value - self.limit if self.kind == "max" else self.limit - value


@dataclass(frozen=True)
class SearchSpec:
    """The ``[search]`` table: seed, rounds, NSGA-II settings, survivors, bootstrap.

    Every field is a key of the table, with its default, bounds and meaning in its ``metadata`` (``moo-snn problems --keys`` prints them); :func:`moo_snn.schema.parse_table` checks a table against it.
    """

    seed: int = field(default=0, metadata={"doc": "seed of the search (NSGA-II, survivor selection, training); 0 to 2**32 - 1", "min": 0, "max": SEED_MAX})
    rounds: int = field(default=3, metadata={"doc": "search rounds (NSGA-II, then full training of survivors)", "min": 1, "max": 1000})
    generations: int = field(default=40, metadata={"doc": "NSGA-II generations per round", "min": 1, "max": 100000})
    pop_size: int = field(default=64, metadata={"doc": "NSGA-II population size", "min": 4, "max": 100000})
    survivors: int = field(default=4, metadata={"doc": "candidates fully trained per round", "min": 1, "max": 10000})
    bootstrap: int = field(default=16, metadata={"doc": "feasible samples trained first when no archive matches", "min": 2, "max": 100000})
    uncertainty_weight: float = field(default=1.0, metadata={"doc": "weight of the predictor's uncertainty when picking survivors", "min": 0.0})
    hasnas_samples: int = field(default=1000, metadata={"doc": "strategy 'hasnas': random cells sampled before the cost filter (SNASNet: 5000)", "min": 1, "max": 1000000})


@dataclass(frozen=True)
class FidelitySpec:
    """Multi-fidelity search (DESIGN §6b): cheap proxy trainings for the search, full ones for the front.

    Without a ``[fidelity]`` table (``epochs`` empty) every training is a full one, as before.
    """

    epochs: tuple[int, ...] = field(default=(), metadata={"doc": "epochs of each low-fidelity level, cheapest first (empty: no multi-fidelity, every training is full); full training is the [training] recipe above them. A level is the pair (epochs, train_fraction): values may repeat across levels, but the levels' costs epochs x train_fraction must grow strictly", "min": 1, "max": 10000, "distinct": False})
    train_fraction: tuple[float, ...] = field(default=(), metadata={"doc": "stratified fraction of the training split of each level (same length as epochs; empty: 1 for every level); may repeat across levels", "min": 1e-3, "max": 1.0, "distinct": False})
    promote: int = field(default=2, metadata={"doc": "at most this many candidates of the highest level promoted to full training per round, by expected hypervolume improvement of the measured front (none whose expected improvement is 0)", "min": 1, "max": 10000})
    promote_bootstrap: bool = field(default=True, metadata={"doc": "also run the ladder on the bootstrap (round 0) and promote its best before the first search round, so that round 1's predictor knows the proxies' gap to full training; false: the first promotions come after round 1 (saves up to promote full trainings spent on the best of a random sample; round 1 sees proxies as measured). On digits-long over 5 seeds false did not pay (benchmarks/RESULTS.md, turn 6)"})
    eta: int = field(default=2, metadata={"doc": "successive halving: of the candidates measured at a level, 1/eta go up to the next level, the best by that level's accuracy traded against the cost objectives (front by front, spread over the front: a cheap network of lower accuracy can go up before a dear one)", "min": 2, "max": 100})
    predictor: str = field(default="fidelity_input", metadata={"doc": "how the predictor learns across fidelities: 'fidelity_input' (one model, the level's cost as an input; it predicts at full cost) or 'full_only' (full trainings only; while fewer than 2 exist, a round's predictor also learns from the proxies)", "choices": ("fidelity_input", "full_only")})

    @property
    def enabled(self) -> bool:
        """Whether the problem has low-fidelity levels (a non-empty ``epochs``)."""
        return bool(self.epochs)


SECTIONS = {
    "data": DataSpec,
    "space": SpaceSpec,
    "training": TrainingSpec,
    "hardware": HardwareConfig,
    "nonideal": NonidealConfig,
    "objectives": ObjectivesSpec,
    "search": SearchSpec,
    "fidelity": FidelitySpec,
}
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
TOP_LEVEL = ("name", "description", "reference_arch", *SECTIONS, "constraints")


@dataclass(frozen=True)
class ProblemSpec:
    """A whole problem: what to search, on what data, trained how, for which accelerator.

    Made by :func:`load_problem` / :func:`parse_problem` from a problem file (``moo-snn problems
    --keys`` lists every key with its default, unit and meaning); frozen.

    Parameters
    ----------
    name : str
        The problem's name (it names the results files).
    description : str
        One line about it.
    reference_arch : Architecture
        A known network of the space (for the CIFAR problems SNASNet's published cell).
    data, space, training, hardware, objectives, search, nonideal, fidelity : dataclass
        The tables ``[data]``, ``[space]``, ``[training]``, ``[hardware]``, ``[objectives]``,
        ``[search]``, ``[nonideal]``, ``[fidelity]``.
    constraints : tuple of Constraint
        The ``[constraints]`` table: limits on metrics.
    source : str
        The problem file's text (saved next to every result).
    base_dir : str
        The folder relative data paths are read from: the problem file's, or the current folder for a
        shipped problem (:func:`load_problem`).
    file : str
        The problem file it was read from ("" when parsed from text).
    """

    name: str
    description: str
    reference_arch: Architecture
    data: DataSpec
    space: SpaceSpec
    training: TrainingSpec
    hardware: HardwareConfig
    objectives: ObjectivesSpec
    constraints: tuple[Constraint, ...]
    search: SearchSpec
    nonideal: NonidealConfig = NonidealConfig()
    fidelity: FidelitySpec = FidelitySpec()
    source: str = ""
    """The problem file's text (saved next to every result)."""
    base_dir: str = "."
    """The folder relative data paths are read from (the problem file's; the current one for a shipped problem)."""
    file: str = ""
    """The problem file it was read from ("" when parsed from text)."""

    @property
    def network_input(self) -> NetworkInput:
        """Channels, side and classes of the problem's images, and the stem stride (the cost model's input)."""
        shape = DATASETS[self.data.dataset] or (self.data.channels, self.data.side, self.data.classes)
        return NetworkInput(*shape, stem_stride=self.space.stem_stride)

    def check_architecture(self, arch: Architecture) -> Architecture:
        """``arch``, checked: this problem's images can go through it (its final pool divides the side
        after the reduction).

        Parameters
        ----------
        arch : Architecture
            An architecture (of this problem's space or not).

        Returns
        -------
        Architecture
            ``arch`` itself.

        Raises
        ------
        ArchitectureError
            The final pool does not divide the side after the reduction (the message lists the valid pools).
        """
        reduced = self.network_input.cell_side // 2
        if reduced % arch.final_pool:
            valid = [p for p in range(1, reduced + 1) if reduced % p == 0]
            raise ArchitectureError(f"architecture {str(arch)!r}: final pool p{arch.final_pool} does not divide the side after "
                                    f"reduction ({reduced}) of {self.name}'s images; valid: {valid}")
        return arch

    @property
    def data_path(self) -> Path | None:
        """``[data] path``, absolute and normalised (no ``..``): a relative one is read from :attr:`base_dir`
        (None when the table has no path: digits, which needs none)."""
        if not self.data.path:
            return None
        return (Path(self.base_dir) / Path(self.data.path).expanduser()).resolve()


def _plugin_names() -> set[str]:
    """Names of the installed objective plug-ins (package metadata only: nothing is imported)."""
    from moo_snn.plugins import objective_plugin_names

    return objective_plugin_names()


def _parse_constraints(table, where: str, check_plugins: bool = True) -> tuple[Constraint, ...]:
    if not isinstance(table, dict):
        raise ProblemError(f"{where}: expected a table, found {table!r}")
    constraints = []
    for name, value in table.items():
        key = f"{where} {name}"
        if check_plugins and name not in METRICS and ":" not in name and name not in _plugin_names():
            raise ProblemError(f"{key}: unknown metric{did_you_mean(name, list(dict.fromkeys([*METRICS, *sorted(_plugin_names())])))} (or 'module:function')")
        if isinstance(value, dict):
            extra = set(value) - {"max", "min"}
            if extra or len(value) != 1:
                raise ProblemError(f"{key}: expected a number (an upper limit) or a table with one key, 'max' or 'min'; found {value!r}")
            kind, limit = next(iter(value.items()))
        else:
            kind, limit = ("min" if name in ("accuracy", "accuracy_nonideal") else "max"), value
        if isinstance(limit, bool) or not isinstance(limit, (int, float)) or limit != limit or abs(limit) == float("inf"):
            raise ProblemError(f"{key}: expected a finite number as limit, found {limit!r}")
        if limit < 0 or (name in ("accuracy", "accuracy_nonideal") and limit > 1):
            raise ProblemError(f"{key}: impossible limit {limit!r} (must be >= 0{', <= 1' if name == 'accuracy' else ''})")
        constraints.append(Constraint(name, float(limit), kind))
    return tuple(constraints)


def _check_data(data: DataSpec, where: str) -> None:
    """The ``[data]`` keys fit the data set: none is given that it would ignore without a word."""
    if data.dataset == "npz":
        if min(data.channels, data.side, data.classes) < 1:
            raise ProblemError(f"{where}: [data] dataset 'npz' needs channels, side and classes (positive integers)")
        return
    shape = DATASETS[data.dataset]
    given = [k for k in ("channels", "side", "classes") if getattr(data, k)]
    if given:
        raise ProblemError(f"{where}: [data] {', '.join(given)}: for dataset 'npz' only; {data.dataset} images are "
                           f"{shape[0]}-channel {shape[1]}x{shape[1]} of {shape[2]} classes, fixed by the data set: "
                           f"remove {', '.join(given)}, or store the images as an .npz and set dataset = \"npz\"")
    if data.dataset == "digits" and data.path:
        raise ProblemError(f"{where}: [data] path {data.path!r} is given, but dataset 'digits' reads no file (it ships "
                           f"with scikit-learn): for images in an .npz file set dataset = \"npz\" (with channels, side "
                           f"and classes), else remove path")
    if data.dataset != "digits" and not data.path:
        raise ProblemError(f"{where}: [data] path is required for dataset {data.dataset!r}: the folder that holds its files")


def _check_problem(spec: ProblemSpec, where: str, check_plugins: bool = True) -> None:
    _check_data(spec.data, where)
    net = spec.network_input
    if net.side % spec.space.stem_stride:
        raise ProblemError(f"{where}: [space] stem_stride {spec.space.stem_stride} does not divide the image side {net.side}")
    reduced = net.cell_side // 2
    if net.cell_side % 2 or reduced < 1:
        raise ProblemError(f"{where}: the image side after the stem ({net.cell_side}) must be even for the reduction")
    for pool in spec.space.final_pool:
        if reduced % pool:
            valid = [p for p in range(1, reduced + 1) if reduced % p == 0]
            raise ProblemError(f"{where}: [space] final_pool {pool} does not divide the side after reduction ({reduced}); valid: {valid}")
    fid = spec.fidelity
    if fid.train_fraction and len(fid.train_fraction) != len(fid.epochs):
        raise ProblemError(f"{where}: [fidelity] train_fraction has {len(fid.train_fraction)} values and epochs "
                           f"{len(fid.epochs)}; give one fraction per level (or none: 1 for every level)")
    levels = list(zip(fid.epochs, fid.train_fraction or [1.0] * len(fid.epochs)))
    same = next(((i, j) for j in range(len(levels)) for i in range(j) if levels[i] == levels[j]), None)
    if same is not None:
        epochs, fraction = levels[same[1]]
        raise ProblemError(f"{where}: [fidelity] levels {same[0] + 1} and {same[1] + 1} are the same training "
                           f"({epochs} epochs on {fraction:g} of the data); give each level once")
    costs = [e * f for e, f in levels]
    if any(b <= a for a, b in zip(costs, costs[1:])) or any(c >= spec.training.epochs for c in costs):
        raise ProblemError(f"{where}: [fidelity] levels (epochs x train_fraction = {', '.join(f'{c:g}' for c in costs)}) must "
                           f"grow strictly and stay below full training ([training] epochs = {spec.training.epochs})")
    if not any(op != "zero" for op in spec.space.ops):
        raise ProblemError(f"{where}: [space] ops must hold at least one operation other than 'zero'")
    for size in spec.space.crossbar_size or (spec.hardware.crossbar_size,):  # each crossbar the search may price
        replace(spec.hardware, crossbar_size=size).check(where)
    for name in spec.objectives.names:
        if check_plugins and name not in METRICS and ":" not in name and name not in _plugin_names():
            raise ProblemError(f"{where}: [objectives] names: unknown objective {name!r}"
                               f"{did_you_mean(name, list(dict.fromkeys([*METRICS, *sorted(_plugin_names())])))} (or 'module:function')")
    if len(set(spec.objectives.names)) != len(spec.objectives.names):
        raise ProblemError(f"{where}: [objectives] names holds duplicates")
    try:
        spec.check_architecture(spec.reference_arch)
    except ArchitectureError as exc:
        raise ProblemError(f"{where}: reference_arch: {exc}") from None


def parse_problem(text: str, source: str = "<string>", base_dir: str | Path = ".", *, check_plugins: bool = True,
                  file: str | Path = "") -> ProblemSpec:
    """Parse the TOML ``text`` of a problem file; ``source`` names it in errors, ``base_dir`` is the folder
    relative data paths are read from, ``file`` the problem file the text came from (for messages).

    ``check_plugins=False`` accepts objective and limit names of plug-ins that are not installed
    here (reading a results file made elsewhere: nothing is computed with them), and a ``[data]
    test_fraction`` on a data set with a fixed test split (ignored there; an error otherwise), as a
    results file written before that check may hold.
    """
    doc = parse_toml(text, source, TOP_LEVEL)
    for key in ("name", "reference_arch"):
        if key not in doc:
            raise ProblemError(f"{source}: missing top-level key {key!r}")
    for key in ("name", "description", "reference_arch"):
        if key in doc and not isinstance(doc[key], str):
            raise ProblemError(f"{source}: {key}: expected a string, found {doc[key]!r}")
    if not NAME_PATTERN.fullmatch(doc["name"]):  # it becomes part of file names (results/<name>-seed0-....nc)
        raise ProblemError(f"{source}: name: {doc['name']!r} must be 1-64 letters, digits, '.', '_' or '-' (it names "
                           f"the results files), starting with a letter or digit")
    if "data" not in doc:
        raise ProblemError(f"{source}: missing table [data] (at least: dataset = one of {', '.join(DATASETS)})")
    sections = {name: parse_table(cls, doc.get(name), name, source) for name, cls in SECTIONS.items()}
    if doc.get("fidelity") and "epochs" not in doc["fidelity"]:  # its other keys would be ignored without a word
        raise ProblemError(f"{source}: [fidelity] sets {', '.join(sorted(doc['fidelity']))} but no epochs: give the "
                           f"levels' epochs (e.g. epochs = [2]), or leave the table out for full trainings only")
    try:
        reference = Architecture.parse(doc["reference_arch"])
    except ArchitectureError as exc:
        raise ProblemError(f"{source}: reference_arch: {exc}") from None
    spec = ProblemSpec(
        name=doc["name"],
        description=doc.get("description", ""),
        reference_arch=reference,
        constraints=_parse_constraints(doc.get("constraints", {}), f"{source}: [constraints]", check_plugins),
        source=text,
        base_dir=str(base_dir),
        file=str(file),
        **sections,
    )
    _check_problem(spec, source, check_plugins)
    data = sections["data"]
    # it would be ignored; a results file's problem is read as written (one written before this check holds it)
    if check_plugins and data.dataset in FIXED_TEST_SPLITS and "test_fraction" in (doc.get("data") or {}):
        raise ProblemError(f"{source}: [data] test_fraction: {data.dataset} has a fixed test split "
                           f"({FIXED_TEST_SPLITS[data.dataset]}), used as is: test_fraction would be ignored; remove it "
                           f"(val_fraction sets the validation split, taken from the training images)")
    return spec


def resolve_problem_path(name: str | Path | None) -> Path:
    """A path, or the name of a shipped problem (``digits``, ``cifar10-hasnas``); None → digits.

    A name without a folder that is not an existing file is looked up among the shipped problems
    (package data, :func:`moo_snn.resources.shipped_problems`), so an installed moo-snn finds them
    from any folder.

    Raises
    ------
    ProblemError
        Neither a file nor a shipped problem; the message lists the shipped ones.
    """
    shipped = shipped_problems()
    if name is None:
        return shipped["digits"]
    path = Path(name)
    if path.exists():
        return path
    stem = path.name.removesuffix(".toml")
    if stem in shipped and path.parent == Path("."):
        return shipped[stem]
    raise ProblemError(f"problem file {str(name)!r} not found; give a path or a shipped problem: {', '.join(shipped)}")


def load_problem(name: str | Path | None = None) -> ProblemSpec:
    """Load and validate a problem file (a path or a shipped problem's name).

    Parameters
    ----------
    name : str or path-like, optional
        A problem file, or the name of a shipped one (``digits``, ``cifar10-hasnas``,
        ``cifar100-hasnas``, ``tinyimagenet-neuronas``); None: ``digits``.

    Returns
    -------
    ProblemSpec
        Its ``base_dir``, where a relative ``[data] path`` is read from, is the problem file's folder,
        except for a shipped problem (one in the shipped folder, however it was named): the current
        folder, since the package's own folder (site-packages once installed) holds no data.

    Raises
    ------
    ProblemError
        The file does not exist or cannot be read, or a key, type or value in it is wrong (the
        message names the key and the valid choices).
    """
    path = resolve_problem_path(name)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProblemError(f"{path}: cannot read the problem file: {exc}") from None
    base_dir = Path.cwd() if is_shipped_problem(path) else path.resolve().parent
    return parse_problem(text, source=str(path), base_dir=base_dir, file=path.resolve())
