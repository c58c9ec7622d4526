"""A role's argument spec documents its defaults; Ansible takes them from defaults/main.yml.

The spec's ``default`` is not applied (the role's defaults are), so the two must say the same: this
keeps defaults/main.yml the one home, the spec its documentation. Every option of every entry point
that names a default has that value in defaults/main.yml, and every default there is documented.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROLES = Path(__file__).resolve().parents[3] / "roles"
WITH_DEFAULTS = sorted(path.parent.parent.name for path in ROLES.glob("*/defaults/main.yml"))


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text()) or {}


@pytest.mark.parametrize("role", WITH_DEFAULTS)
def test_argument_spec_defaults_are_the_role_defaults(role):
    defaults = load(ROLES / role / "defaults" / "main.yml")
    specs = load(ROLES / role / "meta" / "argument_specs.yml")["argument_specs"]
    documented = {}
    for entry in specs.values():
        for name, option in (entry.get("options") or {}).items():
            if "default" in option:
                documented[name] = option["default"]
    assert {name: defaults.get(name) for name in documented} == documented
    assert set(defaults) <= {name for entry in specs.values() for name in entry.get("options") or {}}


@pytest.mark.parametrize("playbook", sorted((ROLES.parent / "playbooks").glob("*.yml")), ids=lambda p: p.name)
def test_no_playbook_repeats_a_role_default(playbook):
    text = playbook.read_text()
    for role in WITH_DEFAULTS:
        for name in load(ROLES / role / "defaults" / "main.yml"):
            assert f"{name} | default(" not in text, f"{playbook.name}: {name}'s default is {role}'s"
