"""``moo-snn problems --keys`` prints each default as it is written in a problem file (TOML)."""

from __future__ import annotations

import dataclasses
import tomllib

from typer.testing import CliRunner

from moo_snn.cli import app
from moo_snn.cli.problems_cmd import toml_rows
from moo_snn.config.problem import SECTIONS


def test_every_default_parses_as_toml_to_its_value():
    checked = 0
    for section, cls in SECTIONS.items():
        defaults = {f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory()
                    for f in dataclasses.fields(cls)
                    if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING}
        for key, shown, _ in toml_rows(cls):
            if key not in defaults:
                assert shown == "(required)"
                continue
            value = tomllib.loads(f"{key} = {shown}")[key]  # Python's repr (True, 'x', (1,)) is not TOML
            expected = defaults[key]
            assert value == (list(expected) if isinstance(expected, tuple) else expected), (section, key, shown)
            checked += 1
    assert checked > 50


def test_keys_table_shows_toml_booleans_and_strings():
    out = CliRunner().invoke(app, ["problems", "--keys"])
    assert out.exit_code == 0, out.output
    row = next(line for line in out.stdout.splitlines() if "promote_bootstrap" in line)
    assert "│ true " in row and "True" not in row
    assert '"fidelity_input"' in out.stdout and "'fidelity_input' │" not in out.stdout


def test_the_reference_lists_the_top_level_keys_and_the_constraints_the_parser_takes():
    """(It left out name, description and reference_arch, and the JSON left out [constraints]; the constraints line
    named neither accuracy_nonideal nor plug-ins and called every bare limit an upper one.)"""
    import json

    import pytest

    from moo_snn.config.problem import METRICS, parse_problem
    from moo_snn.errors import ProblemError
    from small_search import TEXT

    out = CliRunner().invoke(app, ["problems", "--keys", "--json"])
    assert out.exit_code == 0, out.output
    reference = json.loads(out.stdout)
    top = {row["key"]: (row["default"], row["required"]) for row in reference["top level"]}
    assert top == {"name": (None, True), "description": ("", False), "reference_arch": (None, True)}
    for key in (k for k, (_, required) in top.items() if required):  # the parser does require them
        lines = [line for line in TEXT.splitlines() if not line.startswith(f"{key} =")]
        with pytest.raises(ProblemError, match=key):
            parse_problem("\n".join(lines))
    assert all(metric in reference["constraints"] for metric in METRICS) and "module:function" in reference["constraints"]
    limits = parse_problem(TEXT.replace("[constraints]", "[constraints]\naccuracy_nonideal = 0.5")).constraints
    assert ("accuracy_nonideal", 0.5, "min") in [(c.name, c.limit, c.kind) for c in limits]  # a bare limit: a minimum, as it says


def test_an_unknown_metric_lists_each_valid_name_once():
    """(Built-in names are also registered as plug-ins: the list named each twice.)"""
    import pytest

    from moo_snn.config.problem import parse_problem
    from moo_snn.errors import ProblemError
    from small_search import TEXT

    with pytest.raises(ProblemError) as info:
        parse_problem(TEXT.replace("[constraints]", "[constraints]\nenergy = 2"))
    valid = str(info.value).split("valid: ", 1)[1].split(" (or", 1)[0].split(", ")
    assert len(valid) == len(set(valid)) and "energy_uJ" in valid, str(info.value)


def test_problems_json_gives_numbers_as_json_numbers():
    """``problems --json`` and ``problems --keys --json`` are for programs: limits, defaults and bounds are JSON
    numbers (and lists, booleans, null), not the text of the tables (``"params <= 4e+06"``, ``"(8, 16, 32)"``)."""
    import json

    listed = {p["name"]: p for p in json.loads(CliRunner().invoke(app, ["problems", "--json"]).stdout)["problems"]}
    assert listed["cifar10-hasnas"]["limits"] == {"params": {"limit": 4e6, "kind": "max"}, "area_mm2": {"limit": 100, "kind": "max"},
                                                  "latency_ms": {"limit": 400, "kind": "max"}, "energy_uJ": {"limit": 120, "kind": "max"}}
    assert listed["digits"]["limits"]["accuracy"] == {"limit": 0.9, "kind": "min"}
    assert listed["digits"]["limits"]["memory_kB"] == {"limit": 8, "kind": "max"}
    assert listed["digits"]["reference_arch"] == "0303-0030-0003-0000_c16_t4_w4_p1_h0"

    keys = json.loads(CliRunner().invoke(app, ["problems", "--keys", "--json"]).stdout)
    rows = {section: {row["key"]: row for row in keys[section]} for section in keys if section != "constraints"}
    assert rows["space"]["channels"]["default"] == [8, 16, 32] and rows["space"]["backward"]["default"] is True
    assert rows["training"]["epochs"]["default"] == 10 and rows["training"]["epochs"]["min"] == 1
    assert rows["hardware"]["crossbar_size"] | {"doc": ""} == {"key": "crossbar_size", "default": 64, "required": False, "doc": "",
                                                                "min": 8, "max": 1024, "max_source": rows["hardware"]["crossbar_size"]["max_source"]}
    assert rows["data"]["dataset"]["default"] is None and rows["data"]["dataset"]["required"] is True
    assert rows["data"]["val_fraction"]["default"] == 0.15
