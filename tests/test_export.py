"""NIR export: the graph read back and run by our own reader gives the trained network's outputs."""

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import moo_snn
from moo_snn.cli import app
from moo_snn.config.problem import load_problem, parse_problem
from moo_snn.training.network import RateRecorder, SpikingNetwork

nir = pytest.importorskip("nir")

from moo_snn.training.nir_export import network_to_nir, write_nir  # noqa: E402
from moo_snn.training.nir_import import read_nir  # noqa: E402

DIGITS = load_problem("digits")


@pytest.fixture(scope="module")
def data():
    from moo_snn.data import load_problem_data

    return load_problem_data(DIGITS)


def normalised(data, n=96):
    mean = torch.as_tensor(data.mean).view(1, -1, 1, 1)
    std = torch.as_tensor(data.std).clamp_min(1e-6).view(1, -1, 1, 1)
    return (torch.as_tensor(data.x_val[:n]) - mean) / std


def lively(arch: str, seed: int) -> SpikingNetwork:
    """An untrained network whose BatchNorms are set so that every LIF layer spikes."""
    from moo_snn.architecture import Architecture

    torch.manual_seed(seed)
    model = SpikingNetwork(Architecture.parse(arch).pruned(), DIGITS.network_input, DIGITS.training)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.3, 0.3)
            m.running_var.uniform_(0.3, 1.5)
            m.weight.data.uniform_(0.8, 2.0)
            m.bias.data.uniform_(0.1, 0.8)
    if model.fc1 is not None:  # drive the hidden LIF layer
        model.fc1.bias.data.uniform_(0.6, 1.6)
    return model.eval()


ARCHS = [
    "0303-0030-2002-0200_c8_t4_w4_p2_h32",   # SNASNet's CIFAR-10 cell: backward conv edges 2→0 and 3→1, hidden layer
    "0304-0030-2002-0100_c4_t3_w2_p1_h0",    # avgpool forward edge, backward skip 3→1, 2-bit weights
    "0301-0030-4003-0000_c4_t4_w8_p4_h0",    # backward avgpool 2→0, conv3x3, skip
    "0301-0002-4000-0000_c4_t2_w8_p2_h0",    # node 2 off every path: its edges are pruned
    "0003-0000-0000-0000_c8_t2_w8_p1_h128",  # one conv edge, no recurrence
]


@pytest.mark.parametrize("arch", ARCHS)
def test_a_nir_file_read_back_runs_like_the_network(arch, data, tmp_path):
    model = lively(arch, seed=len(arch))
    path = tmp_path / "net.nir"
    write_nir(network_to_nir(model, arch, DIGITS, input_mean=data.mean, input_std=data.std), path)
    x = normalised(data)
    with torch.no_grad():
        rates = RateRecorder()
        expected = model(x, rates)
        assert all(r > 0 for name, r in rates.rates().items() if name != "stem"), rates.rates()  # spikes everywhere
        sequence = read_nir(path)(x, return_sequence=True)  # the output at every timestep
        affine = read_nir(path, exact=False)(x)
    assert sequence.shape[0] == model.timesteps
    assert torch.equal(sequence.mean(0), expected)  # BatchNorm from its statistics: bit for bit
    assert torch.allclose(affine, expected, atol=1e-4)  # BatchNorm as the NIR affine any reader sees


def test_the_graph_holds_the_hardware_settings_and_the_nir_nodes(data, tmp_path):
    arch = ARCHS[0]
    path = tmp_path / "net.nir"
    write_nir(network_to_nir(lively(arch, 0), arch, DIGITS, input_mean=data.mean, input_std=data.std), path)
    graph = nir.read(str(path))
    meta = graph.metadata
    assert meta["arch"] == arch and int(meta["timesteps"]) == 4 and int(meta["weight_bits"]) == 4
    hardware = json.loads(meta["hardware"])
    assert hardware["crossbar_size"] == 64 and hardware["mode"] == "extended"
    kinds = {type(n).__name__ for n in graph.nodes.values()}
    assert {"Input", "Conv2d", "LIF", "Delay", "AvgPool2d", "Flatten", "Affine", "Output"} <= kinds
    conv = graph.nodes["cell1.fwd0-1.conv"]
    levels = np.unique(np.round(conv.weight / conv.metadata["weight_scale"]))
    assert len(levels) <= 2 ** 4 - 1 and np.allclose(levels, np.round(levels))  # 4-bit weights: 15 levels at most
    assert graph.nodes["cell1.bwd2-0.delay"] is not None and ("cell1.bwd2-0.delay", "cell1.node0") in graph.edges


# --- moo-snn export on a real (short) search ----------------------------------------------------
TEXT = (DIGITS.source.replace("epochs = 10", "epochs = 1").replace("accuracy = { min = 0.9 }", "accuracy = { min = 0.3 }")
        .replace("generations = 40", "generations = 3").replace("pop_size = 64", "pop_size = 12")
        .replace("rounds = 4", "rounds = 1").replace("survivors = 6", "survivors = 1").replace("bootstrap = 16", "bootstrap = 4")
        .replace("channels = [4, 8, 16, 32]", "channels = [4, 8]").replace("timesteps = [1, 2, 4, 6]", "timesteps = [1, 2]"))
SPEC = parse_problem(TEXT, "tiny-digits.toml")


@pytest.fixture(scope="module")
def run(tmp_path_factory, data):
    """A one-round search with one real (one-epoch) training, warm-started from a made-up archive."""
    from moo_snn.search.loop import SearchRun
    from moo_snn.space import SearchSpace
    from moo_snn.surrogate import archive as arc
    from moo_snn.surrogate.sampling import space_filling_sample

    folder = tmp_path_factory.mktemp("export")
    space = SearchSpace(SPEC.space)
    archive = arc.empty_archive(SPEC)
    for k, x in enumerate(space_filling_sample(SPEC, space, 8, seed=3)):
        a = space.decode(x)
        acc = 0.5 + 0.05 * k
        archive = arc.append(archive, dict(arch=str(a), status="trained", val_accuracy=acc, test_accuracy=acc, train_seconds=1.0,
                                           epochs=1, seed=0, params=1, spike_rates={"stem": 1.0}))
    arc.save_archive(archive, folder / "archive.nc")
    path = folder / "run.nc"
    SearchRun(SPEC, path, archive_path=folder / "archive.nc", data=data).run()
    return path


def test_the_search_keeps_the_weights_of_what_it_trains(run):
    from moo_snn.results.weights import weights_dir

    ds = moo_snn.open_results(run)
    trained_here = ds.arch.values[ds.trained.values & (ds.source == "search").values]
    assert len(trained_here) == 1
    assert sorted(p.stem for p in weights_dir(run).glob("*.pt")) == sorted(map(str, trained_here))
    saved = torch.load(weights_dir(run) / f"{trained_here[0]}.pt", weights_only=True)  # tensors and strings only
    assert saved["arch"] == trained_here[0]


def test_export_writes_a_nir_graph_that_runs_like_the_trained_network(run, data, tmp_path):
    from moo_snn.results.weights import weights_file
    from moo_snn.training.trainer import load_weights

    ds = moo_snn.open_results(run)
    search = np.flatnonzero(ds.trained.values & (ds.source == "search").values)
    cand = int(ds.candidate.values[search[0]])
    arch = str(ds.arch.values[search[0]])
    out = tmp_path / "front.nir"
    result = CliRunner().invoke(app, ["export", str(run), "--candidate", str(cand), "--nir", str(out), "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["arch"] == arch and info["retrained"] is False and "retraining" not in result.stderr
    trained = load_weights(SPEC, weights_file(run, arch))
    x = normalised(data, 128)
    with torch.no_grad():
        assert torch.equal(read_nir(out)(x), trained(x))
    meta = nir.read(str(out)).metadata
    assert meta["arch"] == arch and float(meta["val_accuracy"]) == pytest.approx(float(ds.val_accuracy.values[search[0]]))
    assert "energy_uJ" in json.loads(meta["measured_objectives"]) and json.loads(meta["hardware"])["mode"] == "extended"
    np.testing.assert_allclose(meta["input_mean"], data.mean)


def test_export_retrains_a_candidate_without_weights_or_refuses_with_no_retrain(run, tmp_path):
    import shutil

    copy = tmp_path / "copy.nc"  # the results file without its weights folder
    shutil.copy(run, copy)
    ds = moo_snn.open_results(copy)
    k = int(np.flatnonzero(ds.trained.values & (ds.source == "search").values)[0])
    cand = str(int(ds.candidate.values[k]))
    refused = CliRunner().invoke(app, ["export", str(copy), "--candidate", cand, "--nir", str(tmp_path / "a.nir"), "--no-retrain"])
    assert refused.exit_code == 2 and "no saved weights" in refused.stderr and not (tmp_path / "a.nir").exists()
    done = CliRunner().invoke(app, ["export", str(copy), "--candidate", cand, "--nir", str(tmp_path / "a.nir"), "--json"])
    assert done.exit_code == 0, done.output
    assert "retraining it with the run's seed" in done.stderr
    info = json.loads(done.stdout)
    assert info["retrained"] is True and (tmp_path / "a.nir").exists()
    # deterministic: the same seed, data and recipe give the network the run measured
    assert info["val_accuracy_retrained"] == pytest.approx(info["val_accuracy"], abs=1e-12)
    again = CliRunner().invoke(app, ["export", str(copy), "--candidate", cand, "--nir", str(tmp_path / "b.nir")])
    assert again.exit_code == 0 and "retraining" not in again.stderr  # its weights were kept the first time
    import nir  # both files say their weights were retrained, with the retraining's own accuracy (issue 18)

    for path in (tmp_path / "a.nir", tmp_path / "b.nir"):
        meta = nir.read(str(path)).metadata
        assert int(meta["retrained"]) == 1
        assert float(meta["val_accuracy_retrained"]) == pytest.approx(info["val_accuracy_retrained"], abs=1e-12)


def test_export_errors_are_one_line(run, tmp_path):
    ds = moo_snn.open_results(run)
    untrained = int(ds.candidate.values[np.flatnonzero(~ds.trained.values)[0]])
    for args, fragment in (([str(run), "--candidate", "999999"], "no candidate 999999"),
                           ([str(run), "--candidate", str(untrained)], "only trained candidates"),
                           ([str(tmp_path / "missing.nc")], "no such results file")):
        result = CliRunner().invoke(app, ["export", *args, "--nir", str(tmp_path / "x.nir")])
        assert result.exit_code == 2, result.output
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and fragment in lines[0]


# --- graphs written by other tools (issue 17 item 3): no moo-snn metadata, Conv2d.input_shape None ----

def _foreign_graph(tau=0.002, r=2.0, v_leak=0.1, delay_cycle=None, input_shape=None):
    """Input 1×8×8 → Conv2d 3×3 (input_shape None by default) → LIF → SumPool2d 2×2 → Flatten → Affine → Output."""
    rng = np.random.default_rng(0)
    shape = (2, 8, 8)
    nodes = {
        "input": nir.Input(input_type=np.array([1, 8, 8])),
        "conv": nir.Conv2d(input_shape=input_shape, weight=rng.normal(0, 1, (2, 1, 3, 3)).astype(np.float32), stride=1, padding=1,
                           dilation=1, groups=1, bias=rng.normal(0, 0.5, 2).astype(np.float32)),
        "lif": nir.LIF(tau=np.full(shape, tau, np.float32), r=np.full(shape, r, np.float32), v_leak=np.full(shape, v_leak, np.float32),
                       v_threshold=np.ones(shape, np.float32), v_reset=np.zeros(shape, np.float32)),
        "pool": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
        "flat": nir.Flatten(input_type={"input": np.array([2, 4, 4])}),
        "fc": nir.Affine(weight=rng.normal(0, 0.3, (3, 32)).astype(np.float32), bias=np.arange(3, dtype=np.float32)),
        "output": nir.Output(output_type=np.array([3])),
    }
    edges = [("input", "conv"), ("conv", "lif"), ("lif", "pool"), ("pool", "flat"), ("flat", "fc"), ("fc", "output")]
    if delay_cycle is not None:
        edges += delay_cycle
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False), nodes


def _foreign_reference(nodes, x, timesteps, dt=1e-3):
    """The same graph by hand: v ← v + dt/τ·(v_leak − v + r·I), spike if v > 1, reset to 0 (NIR's LIF)."""
    conv, lif, fc = nodes["conv"], nodes["lif"], nodes["fc"]
    current = torch.nn.functional.conv2d(x, torch.as_tensor(conv.weight), torch.as_tensor(conv.bias), padding=1)
    k = dt / float(lif.tau.flat[0])
    v, outs = torch.full_like(current, float(lif.v_leak.flat[0])), []
    for _ in range(timesteps):
        v = v + k * (float(lif.v_leak.flat[0]) - v + float(lif.r.flat[0]) * current)
        z = (v > 1.0).float()
        v = torch.where(z > 0, torch.zeros_like(v), v)
        pooled = torch.nn.functional.avg_pool2d(z, 2) * 4  # a 2×2 sum
        outs.append(pooled.flatten(1) @ torch.as_tensor(fc.weight).T + torch.as_tensor(fc.bias))
    return torch.stack(outs).mean(0)


def test_a_foreign_graph_needs_its_timesteps_and_then_runs_like_a_hand_computation(tmp_path):
    graph, nodes = _foreign_graph(input_shape=(8, 8))  # nir.write cannot store None; the file of the shared case has (8, 8)
    path = tmp_path / "foreign.nir"
    nir.write(str(path), graph)
    with pytest.raises(moo_snn.MooSnnError, match=r"foreign.nir: .*no 'timesteps' metadata.*read_nir\(path, timesteps=T\)") as info:
        read_nir(path)
    assert "\n" not in str(info.value)
    x = torch.rand(5, 1, 8, 8) * 2
    for timesteps in (1, 4):
        out = read_nir(path, timesteps=timesteps)(x)
        torch.testing.assert_close(out, _foreign_reference(nodes, x, timesteps), rtol=1e-5, atol=1e-5)
        assert out.shape == (5, 3)
    # dt: given, and halving it halves dt/τ (another trajectory)
    torch.testing.assert_close(read_nir(path, timesteps=3, dt=5e-4)(x), _foreign_reference(nodes, x, 3, dt=5e-4), rtol=1e-5, atol=1e-5)
    for bad in (0, -2, 2.5):
        with pytest.raises(moo_snn.MooSnnError, match="timesteps must be a positive integer"):
            read_nir(path, timesteps=bad)


def test_an_in_memory_graph_with_conv_input_shape_none_runs():
    """As another tool hands it over (nir.Conv2d(input_shape=None, ...)): nothing needs the shape."""
    from moo_snn.training.nir_import import NirNetwork

    graph, nodes = _foreign_graph(tau=0.002, r=1.0, v_leak=0.0)
    assert graph.nodes["conv"].input_shape is None and not graph.metadata
    x = torch.rand(3, 1, 8, 8)
    torch.testing.assert_close(NirNetwork(graph, timesteps=2)(x), _foreign_reference(nodes, x, 2), rtol=1e-5, atol=1e-5)


def test_foreign_graphs_that_cannot_run_are_one_line_errors(tmp_path):
    from moo_snn.training.nir_import import NirNetwork

    graph, _ = _foreign_graph(delay_cycle=[("lif", "conv")])  # a cycle without a Delay
    with pytest.raises(moo_snn.MooSnnError, match="cycle without a Delay node"):
        NirNetwork(graph, timesteps=2)
    graph, _ = _foreign_graph(delay_cycle=[("lif", "nowhere")])
    with pytest.raises(moo_snn.MooSnnError, match="edges name nodes it does not have: nowhere"):
        NirNetwork(graph, timesteps=2)


# --- the neuron nodes other tools write (norse: CubaLIF, LI, IF; snnTorch: CubaLIF, LIF, IF) ---------

def _neuron_graph(neuron, n=3):
    """Input (n) → Affine (identity, zero bias) → neuron → Output: the neuron sees the input itself."""
    return nir.NIRGraph(nodes={"input": nir.Input(input_type=np.array([n])),
                               "fc": nir.Affine(weight=np.eye(n, dtype=np.float32), bias=np.zeros(n, np.float32)),
                               "cell": neuron, "output": nir.Output(output_type=np.array([n]))},
                        edges=[("input", "fc"), ("fc", "cell"), ("cell", "output")], type_check=False)


def _by_hand(kind, x, p, steps, dt):
    """NIR's equations, forward Euler, one plain-Python loop per neuron (no tensors)."""
    out = []
    for k in range(len(x)):
        i, v = 0.0, (p["v_leak"][k] if kind in ("LI", "CubaLI", "CubaLIF") else 0.0)
        seq = []
        for _ in range(steps):
            if kind in ("CubaLI", "CubaLIF"):
                i, v = i + dt / p["tau_syn"][k] * (p["w_in"][k] * x[k] - i), v + dt / p["tau_mem"][k] * (p["v_leak"][k] - v + p["r"][k] * i)
            elif kind == "LI":
                v = v + dt / p["tau"][k] * (p["v_leak"][k] - v + p["r"][k] * x[k])
            elif kind in ("IF", "I"):
                v = v + dt * p["r"][k] * x[k]
            if kind in ("CubaLIF", "IF"):
                z = 1.0 if v > p["v_threshold"][k] else 0.0
                v = p["v_reset"][k] if z else v
                seq.append(z)
            elif kind == "Threshold":
                seq.append(1.0 if x[k] > p["threshold"][k] else 0.0)
            else:
                seq.append(v)
        out.append(seq)
    return np.array(out).T  # (T, n)


NEURONS = {  # per-neuron parameters (time constants differ between neurons), values that make them spike
    "CubaLIF": dict(tau_syn=[0.002, 0.004, 0.003], tau_mem=[0.004, 0.002, 0.005], r=[2.0, 1.0, 3.0], v_leak=[0.0, 0.1, -0.1],
                    v_threshold=[0.3, 0.5, 0.2], v_reset=[0.0, -0.2, 0.1], w_in=[1.0, 2.0, 0.5]),
    "CubaLI": dict(tau_syn=[0.002, 0.004, 0.003], tau_mem=[0.004, 0.002, 0.005], r=[2.0, 1.0, 3.0], v_leak=[0.0, 0.1, -0.1],
                   w_in=[1.0, 2.0, 0.5]),
    "LI": dict(tau=[0.004, 0.002, 0.005], r=[2.0, 1.0, 3.0], v_leak=[0.0, 0.1, -0.1]),
    "IF": dict(r=[300.0, 500.0, 200.0], v_threshold=[0.5, 1.0, 0.7], v_reset=[0.0, 0.1, -0.2]),
    "I": dict(r=[300.0, 500.0, 200.0]),
    "Threshold": dict(threshold=[0.5, 1.0, 1.5]),
}


@pytest.mark.parametrize("kind", sorted(NEURONS))
def test_the_neuron_nodes_of_other_tools_run_nirs_equations(tmp_path, kind):
    p = NEURONS[kind]
    node = getattr(nir, kind)(**{k: np.asarray(v, np.float32) for k, v in p.items()})
    path = tmp_path / f"{kind}.nir"
    nir.write(str(path), _neuron_graph(node))
    x = np.array([1.3, 0.8, 2.1])
    got = read_nir(path, timesteps=6)(torch.as_tensor(x, dtype=torch.float32)[None], return_sequence=True)[:, 0]
    want = _by_hand(kind, x, p, 6, 1e-3)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-6)
    if kind in ("CubaLIF", "IF"):
        assert 0 < want.sum() < want.size  # the case exercises both spikes and the reset


def test_an_if_graph_read_with_dt_1_runs_as_norses_iaf_cell():
    """A second implementation: norse's IAFCell integrates v ← v + x (no dt) and resets to v_reset."""
    import norse.torch as norse

    n, steps = 4, 7
    graph = _neuron_graph(nir.IF(r=np.ones(n, np.float32), v_threshold=np.ones(n, np.float32), v_reset=np.zeros(n, np.float32)), n)
    from moo_snn.training.nir_import import NirNetwork

    x = torch.tensor([[0.3, 0.45, 0.7, 1.2]])
    got = NirNetwork(graph, timesteps=steps, dt=1.0)(x, return_sequence=True)
    cell, state, want = norse.IAFCell(), None, []
    for _ in range(steps):
        z, state = cell(x, state)
        want.append(z)
    torch.testing.assert_close(got, torch.stack(want))
    assert got.sum() > 0


def test_a_lif_node_with_per_neuron_time_constants_runs():
    """Per-neuron τ (snnTorch writes τ for each neuron): each neuron leaks at its own rate."""
    p = dict(tau=[0.002, 0.01], r=[1.0, 1.0], v_leak=[0.0, 0.0], v_threshold=[10.0, 10.0], v_reset=[0.0, 0.0])
    from moo_snn.training.nir_import import NirNetwork

    node = nir.LIF(**{k: np.asarray(v, np.float32) for k, v in p.items()})
    v = NirNetwork(_neuron_graph(node, 2), timesteps=1)
    x = torch.tensor([[1.0, 1.0]])
    # one step from v = 0 never reaches the threshold: v = dt/τ·x, read back through an LI node of the same τ
    li = NirNetwork(_neuron_graph(nir.LI(tau=np.asarray(p["tau"], np.float32), r=np.ones(2, np.float32), v_leak=np.zeros(2, np.float32)), 2), timesteps=1)
    torch.testing.assert_close(li(x), torch.tensor([[0.5, 0.1]]))
    assert v(x).sum() == 0


@pytest.mark.parametrize("make, fragment", [
    (lambda d: d / "missing.nir", "missing.nir: no such NIR file"),
    (lambda d: d, "is a folder, not a NIR file"),
    (lambda d: (d / "text.nir").write_text("hello") and d / "text.nir", "text.nir: not a readable NIR file"),
])
def test_a_file_that_is_no_nir_graph_is_one_line(tmp_path, make, fragment):
    with pytest.raises(moo_snn.MooSnnError, match=fragment) as info:
        read_nir(make(tmp_path), timesteps=2)
    assert "\n" not in str(info.value)


def test_an_unsupported_node_names_what_the_reader_runs():
    from moo_snn.training.nir_import import NirNetwork

    graph = _neuron_graph(nir.Conv1d(input_shape=3, weight=np.ones((3, 3, 1), np.float32), stride=1, padding=0, dilation=1,
                                     groups=1, bias=np.zeros(3, np.float32)))
    with pytest.raises(moo_snn.MooSnnError, match=r"Conv1d is not supported by moo-snn's reader \(it runs .*CubaLIF"):
        NirNetwork(graph, timesteps=2)
    with pytest.raises(moo_snn.MooSnnError, match="tau_mem must be positive"):
        NirNetwork(_neuron_graph(nir.CubaLI(tau_syn=np.ones(3), tau_mem=np.zeros(3), r=np.ones(3), v_leak=np.zeros(3))), timesteps=2)
