"""Features of architectures for the accuracy predictor.

Input of the featuriser: a 2-D object array, one row per candidate, column 0 the canonical
architecture string, then, where asked, the training-free score (SNASNet's SAHD) and the fidelity
of the measurement (its cost in full-training equivalents, 1 = full training; DESIGN §6b). Rows
without the fidelity column are taken as full fidelity: a predictor that learns across fidelities
predicts full-fidelity accuracy for plain architecture strings. Features:

* the genome: for each of the 6 node pairs a one-hot of its edge kind (zero, or one of 4 ops ×
  2 directions: 9 kinds), log2 C, T, weight bits, log2 s (final pool), log2(1 + hidden);
* derived: log10 of the weights, numbers of conv3x3 / conv1x1 / skip / avgpool edges, backward
  edges, active edges, the depth of the cell (edges on its longest forward 0 → 3 path), log2 of the
  classifier's input width;
* optionally the path encoding of the cell (White et al., "BANANAS", AAAI 2021, §3.2): for every
  sequence of operations a forward input → output path can carry (1, 2 or 3 edges of skip, conv1x1,
  conv3x3, avgpool3x3: 4 + 16 + 64 = 84 sequences), the number of forward 0 → 3 paths of the canonical
  cell that carry it. BANANAS uses an indicator per path; a count keeps the same information here
  (two different node paths may carry the same op sequence). Backward edges are not on a forward
  path; the one-hot above already encodes them;
* optionally the training-free score;
* optionally log2 of the fidelity (0 at full training, negative for cheaper proxies).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from moo_snn.architecture import EDGE_PAIRS, OPS, Architecture
from moo_snn.layers import NetworkInput, classifier_features, crossbar_layers

EDGE_KINDS = [("zero", False)] + [(op, False) for op in OPS[1:]] + [(op, True) for op in OPS[1:]]
FEATURE_NAMES = (
    [f"edge{i}-{j}={op}{'<' if bwd else ''}" for i, j in EDGE_PAIRS for op, bwd in EDGE_KINDS]
    + ["log2_channels", "timesteps", "weight_bits", "log2_pool", "log2_hidden", "log10_params", "n_conv3x3",
       "n_conv1x1", "n_skip", "n_avgpool", "n_backward", "n_active", "cell_depth", "log2_classifier_in"]
)


PATH_OPS = tuple(op for op in OPS if op != "zero")
PATH_SEQUENCES = [seq for length in (1, 2, 3) for seq in np.ndindex(*(len(PATH_OPS),) * length)]
PATH_NAMES = ["path=" + ">".join(PATH_OPS[k] for k in seq) for seq in PATH_SEQUENCES]
_PATH_INDEX = {seq: k for k, seq in enumerate(PATH_SEQUENCES)}


def path_features(arch: Architecture) -> np.ndarray:
    """Path encoding of the cell, length ``len(PATH_NAMES)``: per op sequence, the number of forward
    0 → 3 paths of the canonical cell that carry it (module docstring; BANANAS, White et al. 2021)."""
    forward = {(e.i, e.j): PATH_OPS.index(e.op) for e in arch.canonical().active_edges() if not e.backward}
    counts = np.zeros(len(PATH_NAMES))

    def walk(node: int, ops: tuple) -> None:
        if node == 3:
            counts[_PATH_INDEX[ops]] += 1
            return
        for (i, j), op in forward.items():
            if i == node:
                walk(j, ops + (op,))

    walk(0, ())
    return counts


def _depth(arch: Architecture) -> int:
    """Edges on the longest forward path from node 0 to node 3 among active edges."""
    longest = [0, -1, -1, -1]
    for edge in sorted((e for e in arch.active_edges() if not e.backward), key=lambda e: e.j):
        if longest[edge.i] >= 0:
            longest[edge.j] = max(longest[edge.j], longest[edge.i] + 1)
    return max(longest[3], 0)


def architecture_features(arch: Architecture, net_input: NetworkInput) -> np.ndarray:
    """The feature vector of one architecture (see the module docstring), length ``len(FEATURE_NAMES)``."""
    arch = arch.canonical()
    one_hot = np.zeros((6, len(EDGE_KINDS)))
    for k, edge in enumerate(arch.edges):
        one_hot[k, EDGE_KINDS.index(edge)] = 1
    active = arch.active_edges()
    ops = [e.op for e in active]
    params = sum(layer.params for layer in crossbar_layers(arch, net_input))
    return np.concatenate([one_hot.ravel(), [
        np.log2(arch.channels), arch.timesteps, arch.weight_bits, np.log2(arch.final_pool), np.log2(1 + arch.hidden),
        np.log10(params), ops.count("conv3x3"), ops.count("conv1x1"), ops.count("skip"), ops.count("avgpool3x3"),
        sum(e.backward for e in active), len(active), _depth(arch), np.log2(classifier_features(arch, net_input)),
    ]])


class ArchitectureFeaturizer(TransformerMixin, BaseEstimator):
    """Architecture strings (+ optional training-free score) → numeric features.

    Parameters
    ----------
    channels, side, n_classes, stem_stride : the network input (see :class:`NetworkInput`).
    use_score : append column 1 of the input (the training-free score) as a feature.
    use_fidelity : append log2 of the next column (the measurement's cost in full-training
        equivalents, in (0, 1]) as a feature; a missing column means full fidelity (1).
    use_paths : append the path encoding of the cell (:func:`path_features`) after the genome features.
    """

    def __init__(self, channels: int = 1, side: int = 8, n_classes: int = 10, stem_stride: int = 1, use_score: bool = False,
                 use_fidelity: bool = False, use_paths: bool = False):
        self.channels = channels
        self.side = side
        self.n_classes = n_classes
        self.stem_stride = stem_stride
        self.use_score = use_score
        self.use_fidelity = use_fidelity
        self.use_paths = use_paths

    def fit(self, X, y=None):
        """Record the number of input columns and the feature names (nothing is learned)."""
        self.n_features_in_ = np.asarray(X, dtype=object).reshape(len(X), -1).shape[1]
        self.feature_names_out_ = np.array(FEATURE_NAMES + (PATH_NAMES if self.use_paths else []) + (["sahd_score"] if self.use_score else [])
                                           + (["log2_fidelity_fte"] if self.use_fidelity else []), dtype=object)
        return self

    def transform(self, X):
        """Features of the architectures in ``X`` (column 0: architecture strings), float ``(n, n_features)``."""
        check_is_fitted(self, "n_features_in_")
        X = np.asarray(X, dtype=object).reshape(len(X), -1)
        net = NetworkInput(self.channels, self.side, self.n_classes, self.stem_stride)
        rows = [architecture_features(Architecture.parse(str(a)), net) for a in X[:, 0]]
        features = np.array(rows, dtype=float).reshape(len(X), len(FEATURE_NAMES))
        if self.use_paths:
            paths = [path_features(Architecture.parse(str(a))) for a in X[:, 0]]
            features = np.column_stack([features, np.array(paths, dtype=float).reshape(len(X), len(PATH_NAMES))])
        if self.use_score:
            features = np.column_stack([features, X[:, 1].astype(float)])
        if self.use_fidelity:
            column = 1 + int(self.use_score)
            fte = X[:, column].astype(float) if X.shape[1] > column else np.ones(len(X))
            features = np.column_stack([features, np.log2(fte)])
        return features

    def get_feature_names_out(self, input_features=None):
        """Names of the features :meth:`transform` returns (scikit-learn's set_output protocol)."""
        check_is_fitted(self, "feature_names_out_")
        return self.feature_names_out_

    @classmethod
    def for_problem(cls, problem, use_score: bool = False, use_fidelity: bool = False,
                    use_paths: bool = False) -> ArchitectureFeaturizer:
        """The featuriser for a problem's input shape (channels, side, classes, stem stride)."""
        net = problem.network_input
        return cls(net.channels, net.side, net.n_classes, net.stem_stride, use_score, use_fidelity, use_paths)
