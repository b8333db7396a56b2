"""Architecture strings: bounded values everywhere, and one rule for values outside a problem's space.

Before: ``cost --arch ..._c99999999999999999999_...`` was "unexpected error OverflowError" (exit 1),
``train`` with it a C++ frame dump, ``_c100000_`` / ``_t100000_`` asked for 13-720 GB; ``cost`` and
``train`` took c7, t3, w3, an avgpool edge or ``_x32_b2_a6`` on digits silently while ``surrogate
predict`` refused them.
"""

import shlex

import pytest
from typer.testing import CliRunner

from moo_snn.architecture import FIELD_BOUNDS, Architecture
from moo_snn.cli import app
from moo_snn.config.problem import SpaceSpec, load_problem, parse_problem
from moo_snn.errors import ArchitectureError, ProblemError

from cli_runs import fake_train

CELL = "0003-0000-0000-0000"
KEYS = {"channels": "c", "timesteps": "t", "weight_bits": "w", "final_pool": "p", "hidden": "h",
        "crossbar_size": "x", "cell_bits": "b", "adc_bits": "a"}


def arch_text(**values) -> str:
    fields = {**dict(channels=16, timesteps=4, weight_bits=4, final_pool=1, hidden=0), **values}
    return CELL + "".join(f"_{KEYS[name]}{value}" for name, value in fields.items())


@pytest.mark.parametrize("name", list(FIELD_BOUNDS))
def test_every_field_is_bounded_at_parse(name):
    low, high = FIELD_BOUNDS[name]
    assert getattr(Architecture.parse(arch_text(**{name: high})), name) == high
    for value in ([low - 1] if low > 0 else []) + [high + 1, "9" * 20, "1" + "0" * 5000]:  # strings: Python will not print 10**5000
        with pytest.raises(ArchitectureError, match=rf"{name} \({KEYS[name]}\) must be an integer from {low} to {high}"):
            Architecture.parse(arch_text(**{name: value}))


def test_the_space_table_has_the_same_bounds():
    """A [space] choice list holds only values an architecture string may carry."""
    for name, (low, high) in FIELD_BOUNDS.items():
        meta = SpaceSpec.__dataclass_fields__[name].metadata
        assert (meta["min"], meta["max"]) == (low, high), name
    text = load_problem("digits").source.replace("final_pool = [", "final_pool = [2048, ", 1)
    with pytest.raises(ProblemError, match="final_pool"):
        parse_problem(text, "big-pool.toml")


@pytest.fixture
def nothing_read(monkeypatch):
    def read(*args, **kwargs):
        raise AssertionError("the data were read before the architecture was checked")

    monkeypatch.setattr("moo_snn.data.load_problem_data", read)


HUGE = [arch_text(channels=99999999999999999999), arch_text(channels=100000), arch_text(timesteps=100000),
        arch_text(hidden=10**6), arch_text(weight_bits=64)]


@pytest.mark.parametrize("command", ["cost digits", "train digits --epochs 1", "surrogate predict digits"])
@pytest.mark.parametrize("arch", HUGE)
def test_values_beyond_the_bounds_are_one_line_before_any_work(command, arch, nothing_read):
    result = CliRunner().invoke(app, shlex.split(command) + ["--arch", arch])
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2, (result.exit_code, result.stderr, result.exception)
    assert len(lines) == 1 and "must be an integer from" in lines[0], result.stderr
    assert result.stdout == ""


OUTSIDE = {  # digits' [space]: channels 4, 8, 16, 32; timesteps 1, 2, 4, 6; weight_bits 2, 4, 8; no avgpool; fixed hardware
    arch_text(channels=7): ["channels 7 (valid: 4, 8, 16, 32)"],
    arch_text(timesteps=3, weight_bits=3): ["timesteps 3 (valid: 1, 2, 4, 6)", "weight_bits 3 (valid: 2, 4, 8)"],
    "0004-0000-0000-0000_c16_t4_w4_p1_h0": ["edge 0-3 avgpool3x3 (valid: zero, skip, conv1x1, conv3x3"],
    arch_text(crossbar_size=32, cell_bits=2, adc_bits=6): [
        f"{name} {value} (fixed by the problem's [hardware] table: [space] {name} lists no choices)"
        for name, value in (("crossbar_size", 32), ("cell_bits", 2), ("adc_bits", 6))],
}


@pytest.mark.parametrize("arch", list(OUTSIDE))
@pytest.mark.parametrize("command", ["cost", "train"])
def test_cost_and_train_evaluate_a_network_outside_the_space_with_one_warning(command, arch, monkeypatch):
    monkeypatch.setattr("moo_snn.training.trainer.train_architecture", fake_train)
    args = ["cost", "digits", "--arch", arch] if command == "cost" else ["train", "digits", "--arch", arch, "--epochs", "1"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, (result.stderr, result.exception)
    warnings = [line for line in result.stderr.splitlines() if "outside the space" in line]
    assert len(warnings) == 1 and warnings[0].startswith(f"warning: {arch} is outside the space of digits: "), result.stderr
    for named in OUTSIDE[arch]:
        assert named in warnings[0], (named, warnings[0])
    assert ("costing" if command == "cost" else "training") + " it anyway" in warnings[0]


@pytest.mark.parametrize("arch", list(OUTSIDE))
def test_surrogate_predict_refuses_the_same_values(arch):
    result = CliRunner().invoke(app, ["surrogate", "predict", "digits", "--arch", arch])
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1, (result.stderr, result.exception)
    first = OUTSIDE[arch][0].split(" (")[0]
    assert lines[0].startswith(f"error: {first} is not in this space; "), lines[0]


def test_a_network_inside_the_space_gets_no_warning():
    result = CliRunner().invoke(app, ["cost", "digits", "--arch", arch_text()])
    assert result.exit_code == 0 and "outside the space" not in result.stderr
