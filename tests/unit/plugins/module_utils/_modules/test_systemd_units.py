"""The one systemctl helper of the modules: argv, parser, active and enabled."""

from __future__ import annotations

import pytest
from unit.fake_systemctl import FakeSystemctl

from ansible_collections.quorate.cluster.plugins.module_utils._modules.systemd_units import (
    UNIT_PROPERTIES,
    Systemctl,
    SystemctlError,
    is_active,
    is_enabled,
    parse_show,
    unit_name,
)


def test_show_asks_only_for_the_properties_it_reads():
    fake = FakeSystemctl({"corosync.service": {"LoadState": "loaded", "ActiveState": "active", "MainPID": "9"}})
    props = Systemctl(fake, "/bin/systemctl").show("corosync")
    assert fake.argvs == [
        ["/bin/systemctl", "show", "--property=LoadState,ActiveState,UnitFileState", "--", "corosync"]
    ]
    assert props == {"LoadState": "loaded", "ActiveState": "active"}  # MainPID was not asked for
    assert Systemctl(fake).show("corosync", ["MainPID"]) == {"MainPID": "9"}


def test_show_without_properties_is_refused():
    with pytest.raises(ValueError, match="every property"):
        Systemctl(FakeSystemctl()).show("corosync", [])


def test_a_failing_call_says_what_ran():
    fake = FakeSystemctl({"x.service": {"ActiveState": "inactive"}})
    fake.fail.add("start")
    with pytest.raises(SystemctlError) as caught:
        Systemctl(fake).start("x")
    assert str(caught.value) == "systemctl start -- x failed (rc=1): Job for x.service failed."
    assert (caught.value.argv, caught.value.rc) == (["start", "--", "x"], 1)


def test_parse_show_keeps_values_with_equals_signs_and_skips_other_lines():
    text = "ExecStart={ path=/usr/sbin/corosync ; argv[]=corosync -f }\nnoise\nActiveState=active \n"
    assert parse_show(text) == {
        "ExecStart": "{ path=/usr/sbin/corosync ; argv[]=corosync -f }",
        "ActiveState": "active",
    }


@pytest.mark.parametrize(
    "state, active",
    [("active", True), ("reloading", True), ("activating", False), ("deactivating", False), ("inactive", False)],
)
def test_active_is_what_systemctl_is_active_counts(state, active):
    assert is_active({"ActiveState": state}) is active


@pytest.mark.parametrize(
    "state, enabled",
    [("enabled", True), ("static", True), ("indirect", True), ("generated", True), ("disabled", False), ("", False)],
)
def test_enabled_means_enable_has_nothing_to_do(state, enabled):
    assert is_enabled({"UnitFileState": state}) is enabled


def test_no_properties_mean_neither_active_nor_enabled():
    assert (is_active({}), is_enabled({})) == (False, False)


def test_unit_names():
    assert (unit_name("corosync"), unit_name("corosync.service"), unit_name("a.timer")) == (
        "corosync.service",
        "corosync.service",
        "a.timer",
    )
    assert UNIT_PROPERTIES == ("LoadState", "ActiveState", "UnitFileState")
