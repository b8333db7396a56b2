"""``surrogate report --fidelity``: the predictor across fidelities against the proxy as a feature."""

import numpy as np

from moo_snn.config.problem import load_problem
from moo_snn.surrogate.fidelity_report import predictor_with_proxy


def _networks(n=24, seed=0):
    """Full accuracy that grows with channels, timesteps and bits; a proxy that is a noisy, lower copy of it."""
    rng = np.random.default_rng(seed)
    archs, full = [], []
    cells = ["0003-0000-0000-0000", "0001-0000-0000-0000", "0303-0030-0003-0000", "0302-0030-3003-0000"]
    while len(archs) < n:
        c, t, w, cell = rng.choice([4, 8, 16, 32]), rng.choice([1, 2, 4, 6]), rng.choice([2, 4, 8]), rng.choice(cells)
        arch = f"{cell}_c{c}_t{t}_w{w}_p2_h0"
        if arch not in archs:
            archs.append(arch)
            full.append(0.3 + 0.15 * np.log2(c) / 5 + 0.3 * np.log2(t + 1) / 3 + 0.1 * np.log2(w) / 3)
    full = np.array(full)
    return archs, full, 0.5 * full + rng.normal(0, 0.002, n)


def test_the_proxy_alone_and_the_fidelity_input_model_rank_held_out_networks():
    archs, full, proxy = _networks()
    result = predictor_with_proxy(load_problem("digits"), archs, full, proxy, n_splits=2, proxy_fte=0.1, regressor="ridge")
    assert set(result) == {"encoding", "encoding+proxy", "proxy_alone", "fidelity_input", "fidelity_input_unmeasured"}
    assert result["proxy_alone"]["kendall_tau"] > 0.9  # a monotone copy up to small noise
    # the fidelity-input model saw the held-out networks' proxies: it ranks them about as the proxy does
    assert result["fidelity_input"]["kendall_tau"] > 0.6
    assert all(np.isfinite(r["kendall_tau"]) for r in result.values())

