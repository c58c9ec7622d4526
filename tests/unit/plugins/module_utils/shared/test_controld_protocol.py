"""The controld protocol's pick and raise rules (the live behaviour is in tests/integration)."""

from __future__ import annotations

import pytest

from ansible_collections.quorate.cluster.plugins.module_utils.shared.controld_protocol import (
    RaiseRefused,
    compatible,
    local_checkpoint_name,
    lowest_common,
    parse_version,
    raise_target,
)

RUNNING = ((1, 0), (1, 0))


def test_versions_parse_and_are_range_checked():
    assert parse_version("1.2") == (1, 2)
    assert parse_version("3") == (3, 0)
    for bad in ("x", "1.x", "256.0", "1.300", ""):
        with pytest.raises(ValueError):
            parse_version(bad)


def test_a_daemon_runs_its_own_major_up_to_its_minor():
    assert compatible((1, 0), (1, 1))
    assert compatible((1, 1), (1, 1))
    assert not compatible((1, 2), (1, 1))
    assert not compatible((1, 0), (2, 0))


def test_the_common_pick_is_the_lowest_maximum_of_the_same_major():
    assert lowest_common([(1, 3), (1, 1), (2, 0)], 1) == (1, 1)
    assert lowest_common([(2, 0)], 1) is None


def test_local_checkpoint_names_carry_the_node_id_in_hex():
    assert local_checkpoint_name("quorate:controld", 26) == "quorate:controld:0000001a"


def test_the_raise_goes_to_what_every_member_supports():
    maxima = {1: ((1, 2), (1, 1)), 2: ((1, 1), (1, 3)), 3: ((1, 2), (1, 1))}
    assert raise_target(RUNNING, maxima, [1, 2, 3]) == ((1, 1), (1, 1))


def test_the_raise_never_lowers_the_running_protocol():
    # A member announcing less than the cluster runs could not have joined; the pick stays.
    assert raise_target(((1, 2), (1, 0)), {1: ((1, 1), (1, 0)), 2: ((1, 3), (1, 0))}, [1, 2]) == ((1, 2), (1, 0))


def test_the_raise_refuses_a_member_that_announced_nothing():
    with pytest.raises(RaiseRefused, match=r"node\(s\) 3 have no local checkpoint"):
        raise_target(RUNNING, {1: ((1, 1), (1, 1)), 2: ((1, 1), (1, 1))}, [1, 2, 3])


def test_the_raise_refuses_another_major():
    with pytest.raises(RaiseRefused, match="another major"):
        raise_target(RUNNING, {1: ((2, 0), (1, 0)), 2: ((1, 1), (1, 0))}, [1, 2])
