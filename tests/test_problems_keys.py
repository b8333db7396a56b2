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
