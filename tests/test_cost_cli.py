"""Tests of ``moo-snn cost`` and of hand-written layer files (moo_snn.cost.layer_file).

Second-implementation reference: SpikeSim's own code (``ela_spikesim.py`` of
github.com/Intelligent-Computing-Lab-Yale/SpikeSim) run on its VGG9 / CIFAR-10 example (T = 5)
gives 15.90693 µJ, 8.42553 mm², 62.83264 ms and 6 tiles; ``examples/vgg9_spikesim.toml`` is that
example's layer list.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose
from typer.testing import CliRunner

from moo_snn.architecture import Architecture
from moo_snn.cli import app
from moo_snn.config.problem import load_problem
from moo_snn.cost import HardwareConfig, evaluate_costs
from moo_snn.cost.layer_file import load_layer_file, parse_layer_file
from moo_snn.errors import ProblemError
from moo_snn.layers import CrossbarLayer, LayerTable, crossbar_layers

ROOT = Path(__file__).resolve().parents[1]
CIFAR10 = str(ROOT / "problems" / "cifar10-hasnas.toml")
CIFAR100 = str(ROOT / "problems" / "cifar100-hasnas.toml")
VGG9 = str(ROOT / "examples" / "vgg9_spikesim.toml")
TOTALS = ("params", "memory_kB", "area_mm2", "latency_ms", "energy_uJ", "tiles", "pes")
LAYER_KEYS = {"name", "c_in", "c_out", "kernel", "d_in", "d_out", "params", "pes", "energy_uJ", "latency_ms", "area_mm2"}
SMALL_ARCH = "0302-0030-3003-0000_c32_t5_w4_p8_h0"
# spikesim-mode lists SpikeSim's script would refuse are priced with a warning (tested below by its line)
pytestmark = pytest.mark.filterwarnings("ignore::moo_snn.cost.SpikeSimCompatibilityWarning")

TWO_LAYERS = """
timesteps = 2
weight_bits = 8

[[layer]]
name = "conv"
c_in = 3
c_out = 64
kernel = 3
d_in = 32
d_out = 32

[[layer]]
name = "fc"
c_in = 65536
c_out = 10
kernel = 1
d_in = 1
d_out = 1
"""
TWO_LAYER_LIST = [CrossbarLayer("conv", 3, 64, 3, 32, 32), CrossbarLayer("fc", 65536, 10, 1, 1, 1)]


def run(*args: str):
    return CliRunner().invoke(app, ["cost", *args])


def run_json(*args: str) -> dict:
    result = run(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def assert_totals(out: dict, report, rtol: float = 1e-12) -> None:
    for name in TOTALS:
        assert_allclose(out[name], getattr(report, name)[0], rtol=rtol, atol=0, err_msg=name)


# --- problem mode -------------------------------------------------------------------------------
def test_problem_mode_prints_layers_and_totals_against_limits():
    result = run(CIFAR100, "--arch", SMALL_ARCH)
    assert result.exit_code == 0, result.output
    for text in ("stem", "cell1.bwd2-0", "reduction", "fc2", "(shared)", "energy", "µJ", "latency", "mm²",
                 "params", "memory_kB", "area_mm2", "latency_ms", "energy_uJ", "tiles", "pes", "✓ meets"):
        assert text in result.stdout, text
    assert "✗" not in result.stdout


def test_problem_mode_json_keys():
    out = run_json(CIFAR10)
    assert set(TOTALS) <= set(out)
    assert out["mode"] == "extended"
    assert out["arch"] == str(load_problem(CIFAR10).reference_arch)
    assert out["layers"] and all(set(layer) == LAYER_KEYS for layer in out["layers"])
    assert [layer["name"] for layer in out["layers"]][0] == "stem"
    assert set(out["limits"]) == {"params", "area_mm2", "latency_ms", "energy_uJ"}
    for check in out["limits"].values():
        assert set(check) == {"limit", "kind", "value", "met"}
    # per-layer energies and latencies add up to the totals
    assert_allclose(sum(layer["energy_uJ"] for layer in out["layers"]), out["energy_uJ"], rtol=1e-12)
    assert_allclose(sum(layer["latency_ms"] for layer in out["layers"]), out["latency_ms"], rtol=1e-12)
    assert_allclose(sum(layer["area_mm2"] for layer in out["layers"]) + out["shared_area_mm2"], out["area_mm2"], rtol=1e-12)


@pytest.mark.parametrize("mode", ["extended", "spikesim"])
@pytest.mark.parametrize("arch", [SMALL_ARCH, "0303-0030-2002-0200_c64_t5_w8_p4_h256"])
def test_json_totals_equal_evaluate_costs(mode, arch):
    spec = load_problem(CIFAR10)
    architecture = Architecture.parse(arch)
    table = LayerTable.from_layers(crossbar_layers(architecture, spec.network_input))
    expected = evaluate_costs(table, architecture.timesteps, architecture.weight_bits, spec.hardware, mode=mode)
    out = run_json(CIFAR10, "--arch", arch, "--mode", mode)
    assert out["mode"] == mode
    assert_totals(out, expected)


def test_spike_rate_override():
    spec = load_problem(CIFAR10)
    architecture = Architecture.parse(SMALL_ARCH)
    table = LayerTable.from_layers(crossbar_layers(architecture, spec.network_input))
    expected = evaluate_costs(table, 5, 4, spec.hardware, spike_rate=0.5)
    out = run_json(CIFAR10, "--arch", SMALL_ARCH, "--spike-rate", "0.5")
    assert out["spike_rate"] == 0.5
    assert_totals(out, expected)
    assert out["energy_uJ"] > run_json(CIFAR10, "--arch", SMALL_ARCH)["energy_uJ"]  # default rate 0.2


def test_arch_hardware_fields_are_used():
    """x (crossbar size), b (cell bits), a (ADC bits) in the string override [hardware]."""
    spec = load_problem(CIFAR10)
    architecture = Architecture.parse(SMALL_ARCH + "_x128_b2_a6")
    table = LayerTable.from_layers(crossbar_layers(architecture, spec.network_input))
    expected = evaluate_costs(table, 5, 4, spec.hardware, crossbar_size=np.array([128]),
                              cell_bits=np.array([2]), adc_bits=np.array([6]))
    out = run_json(CIFAR10, "--arch", str(architecture))
    assert_totals(out, expected)
    assert out["pes"] != run_json(CIFAR10, "--arch", SMALL_ARCH)["pes"]


def test_hasnas_limits_not_met_by_snasnet_cifar100_in_spikesim_mode():
    """SNASNet's CIFAR-100 network (the reference arch) exceeds all four HASNAS limits."""
    out = run_json(CIFAR100, "--mode", "spikesim")
    assert out["mode"] == "spikesim"
    assert set(out["limits"]) == {"params", "area_mm2", "latency_ms", "energy_uJ"}
    for name, check in out["limits"].items():
        assert check["kind"] == "max"
        assert check["value"] == out[name]
        assert check["value"] > check["limit"]
        assert check["met"] is False
    result = run(CIFAR100, "--mode", "spikesim")
    assert result.exit_code == 0  # limits not met is a finding, not an error
    assert result.stdout.count("✗ exceeds by") == 4


def test_accuracy_constraint_is_not_applicable(tmp_path):
    text = Path(CIFAR10).read_text().replace("[constraints]\n", "[constraints]\naccuracy = 0.9\n")
    problem = tmp_path / "with-accuracy.toml"
    problem.write_text(text.replace('path = "data/cifar10"', 'path = "data"'))
    out = run_json(str(problem), "--arch", SMALL_ARCH)
    assert out["limits"]["accuracy"] == {"limit": 0.9, "kind": "min", "value": None, "met": None,
                                         "reason": "needs a trained network's accuracy (moo-snn train)"}
    assert all(out["limits"][name]["met"] for name in ("params", "area_mm2", "latency_ms", "energy_uJ"))
    result = run(str(problem), "--arch", SMALL_ARCH)
    assert result.exit_code == 0 and "n/a: needs a trained network's accuracy" in result.stdout


PLUGINS = """
import numpy as np
from moo_snn.objectives import objective

@objective(units="uJ*ms", direction="minimize")
def edp(batch):
    "Energy-delay product."
    return batch.costs.energy_uJ * batch.costs.latency_ms

def per_uJ(batch):
    return batch.accuracy / batch.costs.energy_uJ

def conv_edges(batch):
    return np.array([sum(op.startswith("conv") for op, _ in a.edges) for a in batch.archs], dtype=float)

def broken(batch):
    raise RuntimeError("kaput")
"""


@pytest.fixture
def plugin_problem(tmp_path, monkeypatch):
    """digits with limits on four module:function objectives of tests_cost_plugins (importable)."""
    from moo_snn import objectives

    monkeypatch.setattr(objectives, "REGISTRY", objectives.Registry())  # no code allowed by another test
    (tmp_path / "tests_cost_plugins.py").write_text(PLUGINS)
    monkeypatch.syspath_prepend(str(tmp_path))
    text = load_problem("digits").source.replace("[constraints]\n", "[constraints]\n" + "".join(
        f'"tests_cost_plugins:{name}" = {limit}\n' for name, limit in (("edp", 0.5), ("per_uJ", 0.1), ("conv_edges", 3), ("broken", 1))))
    path = tmp_path / "plugins.toml"
    path.write_text(text)
    return str(path)


def test_limits_on_plugin_objectives_are_checked_where_the_cost_model_gives_them(plugin_problem):
    """A limit on a plug-in objective is evaluated on the network where it is a cost (no accuracy needed); where it
    is not (it reads the accuracy, it fails, its code is not allowed), the status says which, never "not a cost"."""
    arch = "0303-0030-0003-0000_c16_t4_w4_p1_h0"  # digits' reference: 4 conv3x3 edges (0→1, 0→3, 1→2, 2→3)
    result = run(plugin_problem, "--arch", arch)  # without --allow-code the code does not run, and the status says so
    assert result.exit_code == 0, result.output
    assert "not a cost" not in result.stdout and "n/a: Python code" in result.stdout
    limits = run_json(plugin_problem, "--arch", arch)["limits"]
    for name in ("edp", "per_uJ", "conv_edges", "broken"):
        assert limits[f"tests_cost_plugins:{name}"]["reason"] == "Python code named in the problem file: --allow-code runs it"

    out = run_json(plugin_problem, "--arch", arch, "--allow-code")
    limits = out["limits"]
    edp = out["energy_uJ"] * out["latency_ms"]  # the plug-in's formula, by hand from the printed totals
    assert limits["tests_cost_plugins:edp"] == {"limit": 0.5, "kind": "max", "value": pytest.approx(edp, rel=1e-12),
                                               "met": edp <= 0.5}
    assert limits["tests_cost_plugins:conv_edges"] == {"limit": 3, "kind": "max", "value": 4.0, "met": False}
    assert limits["tests_cost_plugins:per_uJ"]["met"] is None
    assert limits["tests_cost_plugins:per_uJ"]["reason"] == "needs a trained network's accuracy (moo-snn train)"
    assert limits["tests_cost_plugins:broken"]["met"] is None
    assert limits["tests_cost_plugins:broken"]["reason"] == "failed: RuntimeError: kaput"
    shown = run(plugin_problem, "--arch", arch, "--allow-code").stdout
    assert f"{edp:.5g}" in shown and "uJ*ms" in shown and "n/a: failed: RuntimeError: kaput" in shown


def test_a_layer_file_has_no_architecture_for_a_plugin_that_needs_one(plugin_problem):
    out = run_json(plugin_problem, "--layers", VGG9, "--allow-code")
    assert out["limits"]["tests_cost_plugins:conv_edges"]["reason"] == "needs an architecture (a --layers network has none)"
    assert out["limits"]["tests_cost_plugins:edp"]["value"] == pytest.approx(out["energy_uJ"] * out["latency_ms"], rel=1e-12)


# --- layer files --------------------------------------------------------------------------------
def test_layer_file_two_layers(tmp_path):
    path = tmp_path / "two.toml"
    path.write_text(TWO_LAYERS)
    expected = evaluate_costs(LayerTable.from_layers(TWO_LAYER_LIST), 2, 8, HardwareConfig(), per_layer=True)
    out = run_json("--layers", str(path))
    assert_totals(out, expected)
    assert out["mode"] == "extended" and "arch" not in out and out["limits"] == {}
    assert [layer["name"] for layer in out["layers"]] == ["conv", "fc"]
    assert out["layers"][1] | {"energy_uJ": 0} == {
        "name": "fc", "c_in": 65536, "c_out": 10, "kernel": 1, "d_in": 1, "d_out": 1,
        "params": 655360, "pes": 1024, "energy_uJ": 0,
        "latency_ms": expected.layer_latency_ms[0, 1], "area_mm2": expected.layer_area_mm2[0, 1],
    }
    # params 3·64·9 + 65536·10 = 657 088; memory at 8 bits = 657 088 / 1024 kB
    assert out["params"] == 657088 and out["memory_kB"] == 657088 / 1024
    result = run("--layers", str(path))
    assert result.exit_code == 0 and "conv" in result.stdout and "fc" in result.stdout


def test_layer_file_with_problem_uses_its_hardware_and_limits(tmp_path):
    path = tmp_path / "two.toml"
    path.write_text(TWO_LAYERS + '\n[hardware]\nspike_rate = 0.5\n')
    spec = load_problem(CIFAR10)
    out = run_json(CIFAR10, "--layers", str(path), "--mode", "spikesim")
    assert out["mode"] == "spikesim" and out["problem"] == spec.name
    assert set(out["limits"]) == {"params", "area_mm2", "latency_ms", "energy_uJ"}
    expected = evaluate_costs(LayerTable.from_layers(TWO_LAYER_LIST), 2, 8, spec.hardware, mode="spikesim")
    assert_totals(out, expected)
    # the file's [hardware] overrides the problem's, the command line overrides the file
    out = run_json(CIFAR10, "--layers", str(path))
    assert out["spike_rate"] == 0.5
    assert_totals(out, evaluate_costs(LayerTable.from_layers(TWO_LAYER_LIST), 2, 8, spec.hardware, spike_rate=0.5))
    assert run_json(CIFAR10, "--layers", str(path), "--spike-rate", "0.1")["spike_rate"] == 0.1


def test_vgg9_reproduces_spikesim():
    """Second implementation: SpikeSim's own code on its VGG9 example (see the module docstring)."""
    layers = load_layer_file(VGG9)
    assert len(layers.layers) == 7 and layers.timesteps == 5
    out = run_json("--layers", VGG9, "--mode", "spikesim")
    assert_allclose(out["energy_uJ"], 15.90693, rtol=1e-5)
    assert_allclose(out["area_mm2"], 8.42553, rtol=1e-5)
    assert_allclose(out["latency_ms"], 62.83264, rtol=1e-5)
    assert out["tiles"] == 6


def test_load_layer_file_defaults_and_overrides():
    network = parse_layer_file(
        'timesteps = 4\n[hardware]\ncrossbar_size = 128.0\nmode = "spikesim"\n'
        "[[layer]]\nc_in = 3\nc_out = 8\nkernel = 3\nd_in = 8\nd_out = 8\n", "net.toml")
    assert network.weight_bits == 4 and network.timesteps == 4
    assert network.layers == (CrossbarLayer("layer1", 3, 8, 3, 8, 8),)
    assert network.hardware_overrides == {"crossbar_size": 128, "mode": "spikesim"}
    base = HardwareConfig(spike_rate=0.3)
    assert network.hardware(base) == HardwareConfig(spike_rate=0.3, crossbar_size=128, mode="spikesim")


LAYER = "[[layer]]\nc_in = 3\nc_out = 8\nkernel = 3\nd_in = 8\nd_out = 8\n"
MALFORMED = {
    # case: (file text, a word the one-line error must hold besides the file name)
    "missing key": ("timesteps = 2\n[[layer]]\nc_in = 3\nc_out = 8\nkernel = 3\nd_in = 8\n", "d_out"),
    "unknown layer key": ("timesteps = 2\n" + LAYER + "stride = 2\n", "stride"),
    "wrong type": ("timesteps = 2\n" + LAYER.replace("c_in = 3", 'c_in = "3"'), "c_in"),
    "not positive": ("timesteps = 2\n" + LAYER.replace("kernel = 3", "kernel = 0"), "kernel"),
    "no layers": ("timesteps = 2\n", "crossbar layer"),
    "layer not a table": ("timesteps = 2\nlayer = 3\n", "layer"),
    "not TOML": ("timesteps = = 2\n" + LAYER, "TOML"),
    "missing timesteps": (LAYER, "timesteps"),
    "bad timesteps": ("timesteps = 2.5\n" + LAYER, "timesteps"),
    "bad weight_bits": ("timesteps = 2\nweight_bits = true\n" + LAYER, "weight_bits"),
    "unknown top-level key": ("timesteps = 2\nlayers = 1\n" + LAYER, "layers"),
    "unknown hardware key": ("timesteps = 2\n[hardware]\ncrossbar = 64\n" + LAYER, "crossbar"),
    "bad hardware value": ('timesteps = 2\n[hardware]\nmode = "fast"\n' + LAYER, "mode"),
    "duplicate names": ('timesteps = 2\n' + LAYER + 'name = "a"\n' + LAYER + 'name = "a"\n', "names"),
    "missing file": (None, "cannot read"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_layer_file_is_one_line_exit_2(tmp_path, case):
    text, word = MALFORMED[case]
    path = tmp_path / "net-under-test.toml"
    if text is not None:
        path.write_text(text)
    result = run("--layers", str(path))
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert path.name in lines[0] and word in lines[0], lines[0]
    with pytest.raises(ProblemError, match="net-under-test.toml"):
        load_layer_file(path)


def test_layer_file_errors_name_the_table():
    with pytest.raises(ProblemError, match=r"^net.toml: \[layer 2\]: unknown key 'stride'"):
        parse_layer_file("timesteps = 2\n" + LAYER + LAYER + "stride = 2\n", "net.toml")
    with pytest.raises(ProblemError, match=r"^net.toml: \[hardware\] crossbar_size: 4 is below the minimum 8"):
        parse_layer_file("timesteps = 2\n[hardware]\ncrossbar_size = 4\n" + LAYER, "net.toml")


@pytest.mark.parametrize("args, word", [
    (["--arch", SMALL_ARCH, "--layers", VGG9], "not both"),
    ([CIFAR10, "--arch", SMALL_ARCH, "--layers", VGG9], "not both"),
    ([], "--layers"),
    (["--arch", SMALL_ARCH], "PROBLEM"),
    ([CIFAR10, "--arch", "0302-0030"], "0302-0030"),
    (["no-such-problem"], "no-such-problem"),
])
def test_user_mistakes_are_one_line_exit_2(args, word):
    result = run(*args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and word in lines[0], result.stderr


def test_spikesim_refusal_is_one_warning_line_and_listed_in_json():
    """SNASNet's CIFAR-100 network has 14 layers and unsorted PE counts: SpikeSim's script gives no
    numbers; moo-snn gives its formulas' numbers and says so (stderr line, JSON 'warnings')."""
    result = CliRunner().invoke(app, ["cost", CIFAR100, "--mode", "spikesim"])
    assert result.exit_code == 0, result.output
    assert "warning:" in result.stderr and "would refuse" in result.stderr and "14 layers" in result.stderr
    out = run_json(CIFAR100, "--mode", "spikesim")
    assert len(out["warnings"]) == 1 and "not sorted" in out["warnings"][0]
    accepted = run_json("--layers", VGG9, "--mode", "spikesim")  # SpikeSim's own example: no warning
    assert accepted["warnings"] == []
    assert run_json(CIFAR100)["warnings"] == []  # extended mode does not imitate SpikeSim's limits


# --- bounds of a layer file and of [hardware] -----------------------------------------------------
@pytest.mark.parametrize("edit, expected", [
    (("timesteps = 2", "timesteps = 0"), "timesteps: expected an integer from 1 to 256"),
    (("timesteps = 2", "timesteps = 1000000000"), "timesteps: expected an integer from 1 to 256"),
    (("weight_bits = 8", "weight_bits = 1000"), "weight_bits: expected an integer from 1 to 16"),
    (("c_in = 65536", "c_in = 99999999999999"), "[layer 2] c_in: 99999999999999 is above the maximum 16777216 (allowed: 1 to 16777216; twice the widest layer"),
    (("kernel = 3", "kernel = 100"), "[layer 1] kernel: 100 is above the maximum 31 (allowed: 1 to 31; RepLKNet's 31x31"),
    (("d_in = 32", "d_in = 9223372036854775807"), "[layer 1] d_in: 9223372036854775807 is above the maximum 4096 (allowed: 1 to 4096; past any input"),
    (("kernel = 3", "kernel = 2.5"), "[layer 1] kernel: expected an integer, found 2.5"),
    (("[[layer]]", "[hardware]\ncrossbar_size = 100000000\n\n[[layer]]"), "[hardware] crossbar_size: 100000000 is above the maximum 1024 (allowed: 8 to 1024; as an architecture's"),
    (("[[layer]]", "[hardware]\nadc_bits = 100\n\n[[layer]]"), "[hardware] adc_bits: 100 is above the maximum 12 (allowed: 1 to 12"),
    (("[[layer]]", "[hardware]\ncell_bits = 64\n\n[[layer]]"), "[hardware] cell_bits: 64 is above the maximum 8 (allowed: 1 to 8"),
    (("[[layer]]", "[hardware]\npes_per_tile = 100000000000\n\n[[layer]]"), "[hardware] pes_per_tile: 100000000000 is above the maximum 64 (allowed: 1 to 64; 8x SpikeSim's 8"),
    (("[[layer]]", "[hardware]\nkernel_size = 0\n\n[[layer]]"), "[hardware] kernel_size: 0 is below the minimum 1 (allowed: 1 to 31"),
    (("[[layer]]", "[hardware]\nadcs_per_pe = 1000\n\n[[layer]]"), "[hardware] adcs_per_pe = 1000 is above crossbar_size = 64 (more ADCs than columns); allowed: 1 to crossbar_size"),
    (("[[layer]]", "[hardware]\nclock_MHz = 1e300\n\n[[layer]]"), "[hardware] clock_MHz: 1e+300 is above the maximum 10000.0"),
])
def test_layer_file_values_out_of_range_are_one_line_with_the_range(tmp_path, edit, expected):
    """Zero, negative, absurdly large or non-integer values: one line naming the range (and the maximum's source),
    never an int64 overflow (c_in 1e14 priced a negative parameter count) or 1e28 mm² of ADCs (adc_bits 100)."""
    path = tmp_path / "net.toml"
    path.write_text(TWO_LAYERS.replace(*edit, 1))
    result = run("--layers", str(path))
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert expected in result.stderr, result.stderr
    assert "Traceback" not in result.output


def test_problem_hardware_out_of_range_is_one_line(tmp_path):
    text = load_problem("digits").source.replace("[hardware]\n", "[hardware]\nmux_per_column_group = 128\n")
    path = tmp_path / "p.toml"
    path.write_text(text)
    with pytest.raises(ProblemError, match=r"\[hardware\] mux_per_column_group = 128 is above crossbar_size = 64"):
        load_problem(str(path))
    # a co-design gene's crossbar smaller than the ADCs of a PE
    text = load_problem("digits").source.replace("[hardware]\n", "[hardware]\nadcs_per_pe = 16\n").replace(
        "[space]\n", "[space]\ncrossbar_size = [8, 64]\n")
    path.write_text(text)
    with pytest.raises(ProblemError, match=r"adcs_per_pe = 16 is above crossbar_size = 8"):
        load_problem(str(path))


def test_energy_constants_that_overflow_are_an_error_not_null(tmp_path):
    path = tmp_path / "net.toml"
    path.write_text(TWO_LAYERS.replace("[[layer]]", "[hardware]\ne_xbar_pJ = 1e308\n\n[[layer]]", 1))
    result = run("--layers", str(path), "--json")
    assert result.exit_code == 2 and "energy_uJ overflow" in result.stderr and result.stdout == ""
