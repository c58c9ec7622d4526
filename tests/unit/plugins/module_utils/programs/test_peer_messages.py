"""Issue 17: a peer's malformed message must not take down the group (over the simulated CPG)."""

from __future__ import annotations

import pytest
from harness.ckpt_fixtures import ATTRS as SHARED_ATTRS
from harness.ckpt_fixtures import RW_CREATE, A, B, C, cluster

from ansible_collections.quorate.cluster.plugins.module_utils.programs.ckpt_store import (
    CheckpointStore,
    MalformedMessage,
)
from ansible_collections.quorate.cluster.plugins.module_utils.shared.ais_errors import AisError
from ansible_collections.quorate.cluster.plugins.module_utils.shared.ckpt_protocol import encode

ATTRS = dict(SHARED_ATTRS, retention_duration=1_000_000_000)  # 1 s


def replicas(group) -> list:
    return [{cid: _fingerprint(c) for cid, c in s.checkpoints.items()} for s in group.stores.values()]


def _fingerprint(ckpt) -> tuple:
    return ckpt.name, ckpt.generation, ckpt.content_hash(), ckpt.unlinked, sorted(ckpt.openers)


def assert_group_serves(group) -> None:
    """Every member alive, synced, identical, and the group still applies operations."""
    assert all(not s.syncing for s in group.stores.values())
    opened = group.do(A, "open", name="after", flags=RW_CREATE, attrs=ATTRS, handle=99)
    assert opened.code is AisError.OK, opened
    assert group.do(B, "section_create", cid=opened.values["cid"], section=b"s", data=b"1").code is AisError.OK
    first, *rest = replicas(group)
    assert all(r == first for r in rest)


def inject(group, sender, msg) -> None:
    group.queue.append(("msg", sender, encode(msg)))


def test_an_expire_with_unhashable_fields_is_rejected_by_every_member():
    group = cluster(A, B, C)
    inject(group, B, {"t": "expire", "cid": [1], "zero_epoch": {}})
    group.run()
    assert len(group.rejected) == 3 and all("malformed expire" in str(exc) for _m, exc in group.rejected)
    assert_group_serves(group)


def test_a_state_message_with_empty_attrs_is_not_stored():
    group = cluster(A, B)
    group.add(C)  # a sync round: state messages are read now
    inject(group, A, {"t": "state", "view": [list(m) for m in group.next_view], "ckpt": bogus_ckpt(attrs={})})
    group.run()
    assert len(group.rejected) == 3
    assert all("bogus" not in s.names for s in group.stores.values())
    for _second in range(3):
        group.tick(1.0)  # the leader's retention timer: no KeyError
    group.remove(A)  # a new leader, and a restarted daemon with the state of an old one
    group.run()
    group.add(A, CheckpointStore(A))
    group.run()
    group.tick(2.0)
    assert_group_serves(group)


def test_a_state_message_with_a_list_for_a_name_does_not_hold_the_group_in_sync():
    group = cluster(A, B)
    group.add(C)
    inject(group, A, {"t": "state", "view": [list(m) for m in group.next_view], "ckpt": bogus_ckpt(name=[1])})
    group.run()
    assert len(group.rejected) == 3
    assert_group_serves(group)


def bogus_ckpt(**fields) -> dict:
    ckpt = {
        "cid": "9.9.9",
        "name": "bogus",
        "attrs": dict(ATTRS),
        "sections": [[b"s", b"x"]],
        "generation": 1,
        "unlinked": False,
        "zero_epoch": 0,
    }
    ckpt.update(fields)
    return ckpt


def test_a_digest_with_a_string_generation_is_rejected_before_it_is_stored():
    group = cluster(A, B)
    group.run()
    group.do(A, "open", name="g", flags=RW_CREATE, attrs=ATTRS, handle=1)
    stores = group.stores
    digests = {m: s.on_confchg([A, B], group.now)[0] for m, s in stores.items()}
    bad = dict(digests[B], ckpts={cid: [e[0], "g", *e[2:]] for cid, e in digests[B]["ckpts"].items()})
    for store in stores.values():
        store.on_deliver(A, digests[A], group.now)
        with pytest.raises(MalformedMessage, match="generation"):
            store.on_deliver(B, bad, group.now)
        assert B not in store._digests  # nothing stored: the next digest of B plans afresh
    outs = {m: s.on_deliver(B, digests[B], group.now)[0] for m, s in stores.items()}
    for member, out in outs.items():
        for msg in out:
            inject(group, member, msg)
    group.run()
    assert_group_serves(group)


@pytest.mark.parametrize(
    "op, args",
    [
        pytest.param("open", {"name": "n", "flags": float("inf"), "attrs": None, "handle": 1}, id="open-flags-inf"),
        pytest.param("open", {"name": "n", "flags": 1e30, "attrs": None, "handle": 1}, id="open-flags-1e30"),
        pytest.param("section_create", {"section": 2**62, "data": b""}, id="create-section-2**62"),
        pytest.param("section_overwrite", {"section": b"s", "data": 2**62}, id="overwrite-data-int"),
        pytest.param("section_write", {"section": b"s", "data": b"1", "offset": 1.5}, id="write-offset-float"),
        pytest.param("close", {"handle": float("nan")}, id="close-handle-nan"),
        pytest.param("unlink", {"name": [1]}, id="unlink-name-list"),
        pytest.param("section_create", {"section": b"x", "data": b"", "expiration": 1e30}, id="create-expire-float"),
        pytest.param("section_expiration_set", {"section": b"s", "expiration": -1}, id="expiration-set-negative"),
        pytest.param("section_expiration_set", {"section": "s", "expiration": 1}, id="expiration-set-section-str"),
        pytest.param("retention_duration_set", {"retention": float("inf")}, id="retention-set-inf"),
        pytest.param("retention_duration_set", {"retention": -5}, id="retention-set-negative"),
    ],
)
def test_an_op_with_arguments_of_the_wrong_type_is_invalid_param_on_every_member(op, args):
    group = cluster(A, B, C)
    cid = group.do(A, "open", name="t", flags=RW_CREATE, attrs=ATTRS, handle=1).values["cid"]
    assert group.do(A, "section_create", cid=cid, section=b"s", data=b"0").code is AisError.OK
    if op not in ("open", "unlink"):
        args = dict(args, cid=cid)
    result = group.do(C, op, **args)
    assert result.code is AisError.INVALID_PARAM and result.malformed
    assert_group_serves(group)


@pytest.mark.parametrize("token", ["x", [1], 1.0, None, -1, True])
def test_an_op_with_a_bad_token_is_rejected_by_every_member(token):
    group = cluster(A, B)
    msg = {"t": "op", "op": "open", "token": token, "args": {"name": "n", "flags": 1, "attrs": None, "handle": 1}}
    inject(group, A, msg)
    group.run()
    assert len(group.rejected) == 2 and all("token" in str(exc) for _m, exc in group.rejected)
    assert_group_serves(group)


@pytest.mark.parametrize(
    "quorum",
    [
        pytest.param({"quorate": "yes", "votes": 1, "quorum": 2}, id="quorate-str"),
        pytest.param({"quorate": True, "votes": -1, "quorum": 2}, id="votes-negative"),
        pytest.param({"quorate": True, "votes": 1}, id="quorum-missing"),
        pytest.param([True, 1, 2], id="a-list"),
    ],
)
def test_malformed_quorum_facts_are_rejected_by_every_member(quorum):
    group = cluster(A, B, C)
    view = next(iter(group.stores.values())).view
    inject(group, B, {"t": "quorum", "view": view, "quorum": quorum})
    group.run()
    assert len(group.rejected) == 3 and all("quorum" in str(exc) for _m, exc in group.rejected)
    assert_group_serves(group)
