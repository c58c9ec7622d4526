"""The wait modules document one retry report and one socket option, from the doc fragments.

ansible-core merges doc fragments into DOCUMENTATION only, not into RETURN, so each module's RETURN
lists the report keys itself; these tests keep those entries and the option specs in line.
"""

from __future__ import annotations

import pytest
import yaml

from ansible_collections.quorate.cluster.plugins.doc_fragments import ckpt_socket, retry_report, wait
from ansible_collections.quorate.cluster.plugins.module_utils._modules.module_support import (
    socket_argument_spec,
    wait_argument_spec,
)
from ansible_collections.quorate.cluster.plugins.module_utils.shared.retry_policy import (
    RETURNED_REPORT_KEYS,
    RetryReport,
    returned_report,
)
from ansible_collections.quorate.cluster.plugins.modules import ckpt_service_wait, ckpt_wait, corosync_wait

WAIT_MODULES = [ckpt_wait, ckpt_service_wait, corosync_wait]
SOCKET_MODULES = [ckpt_wait, ckpt_service_wait]
REPORT_TYPES = {
    "attempts": "int",
    "elapsed": "float",
    "deadline": "float",
    "errors": "dict",
    "case": "str",
    "cases": "dict",
    "token_ms": "int",
    "timing_source": "str",
}


def _doc(module) -> dict:
    return yaml.safe_load(module.DOCUMENTATION)


@pytest.mark.parametrize("module", WAIT_MODULES, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_every_wait_module_returns_and_documents_the_one_report(module):
    doc = _doc(module)
    assert "quorate.cluster.retry_report" in doc["extends_documentation_fragment"]
    assert "quorate.cluster.wait" in doc["extends_documentation_fragment"]
    returns = yaml.safe_load(module.RETURN)
    for key in RETURNED_REPORT_KEYS:
        assert returns[key]["type"] == REPORT_TYPES[key], key
        assert returns[key]["returned"] == "always", key
        assert "retry report" in returns[key]["description"], key


def test_the_fragment_explains_every_report_key():
    notes = " ".join(yaml.safe_load(retry_report.ModuleDocFragment.DOCUMENTATION)["notes"])
    for key in RETURNED_REPORT_KEYS:
        assert f"RV({key})" in notes, key
    assert set(REPORT_TYPES) == set(RETURNED_REPORT_KEYS)


@pytest.mark.parametrize("module", SOCKET_MODULES, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_socket_option_comes_from_the_fragment(module):
    doc = _doc(module)
    assert "quorate.cluster.ckpt_socket" in doc["extends_documentation_fragment"]
    assert "socket" not in doc["options"]


@pytest.mark.parametrize(
    "fragment, spec",
    [(ckpt_socket, socket_argument_spec()), (wait, wait_argument_spec())],
    ids=["ckpt_socket", "wait"],
)
def test_fragments_match_the_argument_specs(fragment, spec):
    options = yaml.safe_load(fragment.ModuleDocFragment.DOCUMENTATION)["options"]
    assert set(options) == set(spec)
    for name, option in spec.items():
        assert options[name]["type"] == option["type"]
        assert options[name].get("default") == option.get("default")


def test_returned_report_is_the_report_keys_of_a_report_or_a_dict():
    report = RetryReport(attempts=2, elapsed=0.123456)
    report.cases["try_again"] += 1
    values = returned_report(report)
    assert tuple(values) == RETURNED_REPORT_KEYS
    assert (values["attempts"], values["elapsed"], values["case"]) == (2, 0.1235, "try_again")
    assert returned_report(dict(report.as_dict(), extra=1)) == values
