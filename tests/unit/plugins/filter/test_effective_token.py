"""The effective token: one computation for the preflight check, the corosync role and its barrier."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.quorate.cluster.plugins.filter.effective_token import FilterModule, effective_token
from ansible_collections.quorate.cluster.plugins.module_utils._modules import corosync_conf


@pytest.mark.parametrize(
    "totem, nodes, runtime",
    [
        pytest.param({"token": 3000, "token_coefficient": 650}, 1, 3000, id="one-node"),
        pytest.param({"token": 3000, "token_coefficient": 650}, 2, 3000, id="two-nodes"),
        pytest.param({"token": 3000, "token_coefficient": 650}, 3, 3650, id="three-nodes"),
        pytest.param({"token": 3000}, 3, 3650, id="unset-coefficient-is-650"),
        pytest.param({"token": 3000, "token_coefficient": None}, 5, 4950, id="null-coefficient-is-650"),
        pytest.param({"token": 3000, "token_coefficient": 0}, 5, 3000, id="zero-coefficient-is-zero"),
        pytest.param({"token": "1000", "token_coefficient": "100"}, "4", 1200, id="strings-from-extra-vars"),
    ],
)
def test_filter(totem, nodes, runtime):
    assert effective_token(totem, nodes) == runtime
    assert FilterModule().filters()["effective_token"] is effective_token


def test_the_filter_and_the_module_utils_agree():
    assert corosync_conf.effective_token(10000, None, 5) == effective_token({"token": 10000}, 5) == 11950


@pytest.mark.parametrize("totem", [None, {}, {"token": None}, {"token": "fast"}])
def test_bad_input_names_the_filter(totem):
    with pytest.raises(AnsibleFilterError, match="effective_token"):
        effective_token(totem, 3)
