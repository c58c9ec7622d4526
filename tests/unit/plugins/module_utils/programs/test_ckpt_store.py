from __future__ import annotations

import pytest
from harness.ckpt_fixtures import ATTRS, RW_CREATE, A, B, C, cluster
from harness.sim_cpg import SimGroup

from ansible_collections.quorate.cluster.plugins.module_utils.programs.ckpt_store import (
    STATE_CHUNK,
    CheckpointStore,
    MalformedMessage,
)
from ansible_collections.quorate.cluster.plugins.module_utils.shared.ais_errors import AisError
from ansible_collections.quorate.cluster.plugins.module_utils.shared.ckpt_protocol import (
    OPEN_CREATE,
    OPEN_EXCLUSIVE,
    OPEN_READ,
    OPEN_WRITE,
    REPLICATION_VERSION,
    encode,
)


def create(group, member, name="global", handle=1, attrs=None, flags=RW_CREATE):
    return group.do(member, "open", name=name, flags=flags, attrs=attrs or ATTRS, handle=handle)


def write_section(group, member, cid, section=b"daemon_protocol", data=b"01 00\0"):
    return group.do(member, "section_create", cid=cid, section=section, data=data)


def sections(store, name):
    return dict(store.lookup(name).sections)


def split(group: SimGroup, away: list, stale: bool = False) -> SimGroup:
    """The members in ``away`` lose the others and form a partition of their own."""
    stores = []
    for member in away:  # one at a time: a removed member's store leaves the group at once
        stores.append(group.remove(member))
        group.run()
    other = SimGroup(now=group.now, expected_votes=group.expected_votes)
    if stale:
        other.stale_quorum = set(away)  # corosync's quorum news comes after the confchg
    for member, store in zip(away, stores, strict=True):
        other.stores[member] = store
    other.confchg(sorted(away))
    other.run()
    return other


def heal(group: SimGroup, other: SimGroup) -> None:
    group.now = max(group.now, other.now)
    for member in sorted(other.stores):
        group.stores[member] = other.stores[member]
    group.confchg(sorted(group.next_view + list(other.stores)))
    group.run()


def test_three_members_sync_and_replicate_every_write():
    group = cluster(A, B, C)
    assert all(not s.syncing for s in group.stores.values())
    opened = create(group, A)
    assert opened.code is AisError.OK and opened.values["created"]
    assert write_section(group, A, opened.values["cid"]).code is AisError.OK
    for store in group.stores.values():
        assert sections(store, "global") == {b"daemon_protocol": b"01 00\0"}
        assert store.lookup("global").openers == {(1, 101, 1)}


def test_operations_during_a_membership_change_get_try_again():
    group = cluster(A, B)
    group.stores[C] = type(group.stores[A])(C, group.now)
    group.confchg([A, B, C])
    token = group.op(A, "open", name="global", flags=RW_CREATE, attrs=ATTRS, handle=1)
    # Process only the confchg and the op: the op is delivered while everyone is in SYNC.
    group.queue.insert(1, group.queue.pop())  # op right after the confchg, before digests
    group.run()
    assert group.result(token).code is AisError.TRY_AGAIN
    assert all(s.lookup("global") is None for s in group.stores.values())
    assert create(group, A).code is AisError.OK  # and once synced it works


def test_a_joiner_receives_every_checkpoint_and_the_open_handles():
    group = cluster(A, B)
    cid = create(group, A).values["cid"]
    write_section(group, A, cid)
    group.add(C)
    group.run()
    joiner = group.stores[C]
    assert not joiner.syncing
    assert sections(joiner, "global") == {b"daemon_protocol": b"01 00\0"}
    assert joiner.lookup("global").openers == {(1, 101, 1)}
    assert joiner.lookup("global").generation == group.stores[A].lookup("global").generation


def test_large_checkpoints_are_synced_in_chunks():
    group = cluster(A)
    big = dict(ATTRS, checkpoint_size=8 * 1024 * 1024, max_section_size=1024 * 1024, max_sections=8)
    cid = create(group, A, attrs=big).values["cid"]
    for index in range(5):
        assert (
            write_section(group, A, cid, f"s{index}".encode(), bytes([index]) * (STATE_CHUNK - 10)).code is AisError.OK
        )
    before = group.delivered
    group.add(B)
    group.run()
    assert group.delivered - before >= 5  # digests, several state parts, sync done
    assert sections(group.stores[B], "global") == sections(group.stores[A], "global")


def test_a_leaving_member_closes_its_handles_and_retention_deletes_later():
    group = cluster(A, B, C)
    create(group, C)
    group.remove(C)
    group.run()
    assert group.stores[A].lookup("global").openers == set()
    group.tick(1.0)
    assert group.stores[A].lookup("global") is not None  # retention 2 s not over yet
    group.tick(1.5)
    assert all(s.lookup("global") is None for s in group.stores.values())


def test_reopen_before_retention_expires_keeps_the_checkpoint():
    group = cluster(A, B)
    cid = create(group, A).values["cid"]
    write_section(group, A, cid)
    assert group.do(A, "close", cid=cid, handle=1).code is AisError.OK
    group.tick(1.0)
    assert group.do(B, "open", name="global", flags=OPEN_READ, attrs=None, handle=7).code is AisError.OK
    group.tick(5.0)
    assert sections(group.stores[A], "global") == {b"daemon_protocol": b"01 00\0"}


def test_fast_restart_exclusive_create_collides_until_teardown():
    """Case.EXIST_CREATE: a restarted daemon re-creates its local checkpoint exclusively."""
    group = cluster(A, B)
    local = "controld:00000001"
    flags = RW_CREATE | OPEN_EXCLUSIVE
    first = group.do(A, "open", name=local, flags=flags, attrs=ATTRS, handle=1)
    assert first.code is AisError.OK
    group.do(A, "close", cid=first.values["cid"], handle=1)  # the daemon died; its handle closed for it
    again = group.do(A, "open", name=local, flags=flags, attrs=ATTRS, handle=2)
    assert again.code is AisError.EXIST
    assert "exclusive" in again.detail
    group.tick(2.5)
    assert group.do(A, "open", name=local, flags=flags, attrs=ATTRS, handle=3).code is AisError.OK


def test_read_only_open_before_the_creator_is_not_exist():
    """Case.NOT_EXIST_READ: a read-only open of the global checkpoint before its creator's open."""
    group = cluster(A, B)
    assert group.do(B, "open", name="global", flags=OPEN_READ, attrs=None, handle=1).code is AisError.NOT_EXIST
    create(group, A)
    assert group.do(B, "open", name="global", flags=OPEN_READ, attrs=None, handle=2).code is AisError.OK


@pytest.mark.parametrize(
    "args, code",
    [
        pytest.param({"flags": RW_CREATE, "attrs": dict(ATTRS, max_sections=5)}, AisError.EXIST, id="other-attrs"),
        pytest.param({"flags": 0x40 | OPEN_READ, "attrs": None}, AisError.BAD_FLAGS, id="unknown-flag"),
        pytest.param({"flags": OPEN_CREATE, "attrs": ATTRS}, AisError.BAD_FLAGS, id="neither-read-nor-write"),
        pytest.param({"flags": RW_CREATE, "attrs": None}, AisError.INVALID_PARAM, id="create-without-attrs"),
        pytest.param({"flags": OPEN_READ, "attrs": ATTRS}, AisError.INVALID_PARAM, id="attrs-without-create"),
        pytest.param({"flags": RW_CREATE, "attrs": dict(ATTRS, bogus=1)}, AisError.INVALID_PARAM, id="unknown-attr"),
        pytest.param(
            {"flags": RW_CREATE, "attrs": dict(ATTRS, max_sections=0)}, AisError.INVALID_PARAM, id="zero-sections"
        ),
        pytest.param(
            {"flags": RW_CREATE, "attrs": dict(ATTRS, checkpoint_size=1 << 40, max_section_size=1)},
            AisError.TOO_BIG,
            id="huge-checkpoint",
        ),
    ],
)
def test_open_errors(args, code):
    group = cluster(A)
    create(group, A)
    name = "other" if code is not AisError.EXIST else "global"
    assert group.do(A, "open", name=name, handle=9, **args).code is code


def test_name_too_long():
    group = cluster(A)
    result = group.do(A, "open", name="x" * 257, flags=RW_CREATE, attrs=ATTRS, handle=1)
    assert result.code is AisError.NAME_TOO_LONG


def test_section_limits_and_errors():
    group = cluster(A, B)
    cid = create(group, A).values["cid"]
    assert write_section(group, A, cid, b"a").code is AisError.OK
    assert write_section(group, A, cid, b"a").code is AisError.EXIST
    assert write_section(group, A, cid, b"x" * 33).code is AisError.INVALID_PARAM
    # More than max_section_size: INVALID_PARAM (the spec, and openais), not TOO_BIG.
    assert write_section(group, A, cid, b"big", b"x" * 1025).code is AisError.INVALID_PARAM
    for sid in (b"b", b"c", b"d"):
        assert write_section(group, A, cid, sid, b"y" * 1000).code is AisError.OK
    assert write_section(group, A, cid, b"e").code is AisError.NO_SPACE  # max_sections 4
    assert group.do(A, "section_delete", cid=cid, section=b"zz").code is AisError.NOT_EXIST
    assert group.do(A, "section_overwrite", cid=cid, section=b"b", data=b"1" * 1024).code is AisError.OK
    assert group.do(A, "section_write", cid=cid, section=b"a", data=b"XY", offset=3).code is AisError.OK
    assert sections(group.stores[B], "global")[b"a"] == b"01 XY\0"
    assert group.do(A, "section_write", cid=cid, section=b"a", data=b"1", offset=99).code is AisError.INVALID_PARAM


def test_checkpoint_size_is_enforced():
    group = cluster(A)
    cid = create(group, A, attrs=dict(ATTRS, checkpoint_size=1500)).values["cid"]
    assert write_section(group, A, cid, b"a", b"x" * 1000).code is AisError.OK
    assert write_section(group, A, cid, b"b", b"x" * 600).code is AisError.NO_SPACE


def test_unlink_keeps_open_handles_working_until_the_last_close():
    group = cluster(A, B)
    cid = create(group, A).values["cid"]
    assert group.do(B, "unlink", name="global").code is AisError.OK
    assert group.stores[B].lookup("global") is None
    assert write_section(group, A, cid).code is AisError.OK  # the handle still works
    assert group.do(B, "open", name="global", flags=OPEN_READ, attrs=None, handle=4).code is AisError.NOT_EXIST
    group.do(A, "close", cid=cid, handle=1)
    assert cid not in group.stores[B].checkpoints


def test_a_confchg_during_sync_restarts_it():
    group = cluster(A, B)
    create(group, A)
    group.stores[C] = type(group.stores[A])(C, 0.0)
    group.confchg([A, B, C])
    group.confchg([A, B])  # C gone again before the first sync finished
    group.run()
    group.stores.pop(C)
    assert all(not s.syncing for s in group.stores.values())
    assert all(s.view == [[1, 101], [2, 202]] for s in group.stores.values())


def test_partition_merge_higher_generation_wins_and_is_the_same_everywhere():
    left = cluster(A, B)
    cid = create(left, A).values["cid"]
    write_section(left, A, cid)
    # B is cut off and forms its own partition; both sides keep writing.
    right = split(left, [B])
    left.do(A, "section_overwrite", cid=cid, section=b"daemon_protocol", data=b"01 01\0")
    right.do(B, "section_overwrite", cid=cid, section=b"daemon_protocol", data=b"02 00\0")
    right.do(B, "section_create", cid=cid, section=b"extra", data=b"x")
    # Heal: one group again.
    heal(left, right)
    seen = {tuple(sorted(s.lookup("global").sections.items())) for s in left.stores.values()}
    assert len(seen) == 1
    assert sections(left.stores[A], "global")[b"daemon_protocol"] == b"02 00\0"  # B had more updates


def test_partition_merge_tie_goes_to_the_lowest_nodeid():
    left = cluster(A, B)
    cid = create(left, A).values["cid"]
    right = split(left, [B])
    left.do(A, "section_create", cid=cid, section=b"s", data=b"from-A")
    right.do(B, "section_create", cid=cid, section=b"s", data=b"from-B")
    heal(left, right)
    assert sections(left.stores[B], "global") == {b"s": b"from-A"}


def test_same_name_created_on_both_sides_keeps_one():
    left = cluster(A)
    right = cluster(B)
    create(left, A)
    create(right, B)
    merged = SimGroup()
    merged.add(A, left.stores[A])
    merged.add(B, right.stores[B])
    merged.run()
    names = {s.names["global"] for s in merged.stores.values()}
    assert len(names) == 1 and names.pop().startswith("1.")
    assert len(merged.stores[B].checkpoints) == 2  # the loser stays until its handle closes


def test_stale_digest_from_an_earlier_view_is_ignored():
    group = cluster(A, B)
    store = group.stores[A]
    out, result = store.on_deliver(B, {"t": "digest", "view": [[9, 9]], "ckpts": {}}, 0.0)
    assert out == [] and result is None
    assert not store.syncing


def test_unknown_messages_and_operations():
    group = cluster(A)
    assert group.do(A, "frobnicate").code is AisError.BAD_OPERATION
    out, result = group.stores[A].on_deliver(A, {"t": "nonsense"}, 0.0)
    assert result.code is AisError.MESSAGE_ERROR
    assert group.do(A, "open", name="n").code is AisError.INVALID_PARAM  # missing arguments


def test_status_and_listing():
    group = cluster(A, B)
    create(group, A)
    status = group.stores[B].status()
    assert status["synced"] and status["members"] == [[1, 101], [2, 202]] and status["leader"] == [1, 101]
    listing = group.stores[B].listing()
    assert listing[0]["name"] == "global" and listing[0]["open_handles"] == 1


def test_an_expiry_during_sync_is_ignored_and_a_returning_holder_brings_its_copy_back():
    """Found on real corosync: B's corosync restarts; A expires B's checkpoint meanwhile. B first
    forms a view of its own, its dead client's handle closes there and B, leader of that view, sends
    an expiry; the merge with A happens before that expiry is delivered, so it arrives during SYNC
    while B's digest still announces the checkpoint as B's alone."""
    group = cluster(A, B)
    cid = create(group, B).values["cid"]
    write_section(group, B, cid)
    store_b = group.remove(B)
    group.run()
    group.tick(2.5)  # retention over on A's side: A (leader) expires it
    assert group.stores[A].lookup("global") is None
    alone = SimGroup(now=group.now)
    alone.add(B, store_b)
    alone.run()
    assert alone.do(B, "close", cid=cid, handle=1).code is AisError.OK
    late_expiry = store_b.tick(alone.now + 2.5)
    assert [m["t"] for m in late_expiry] == ["expire"]
    group.add(B, store_b)
    group.queue.append(("msg", B, encode(late_expiry[0])))
    group.queue.insert(1, group.queue.pop())  # delivered right after the merge confchg
    group.run()
    for store in group.stores.values():
        assert not store.syncing
        assert sections(store, "global") == {b"daemon_protocol": b"01 00\0"}
    group.tick(2.5)  # unused everywhere: the leader expires it again, on every member alike
    assert all(s.lookup("global") is None for s in group.stores.values())


def test_the_byte_count_follows_every_change_and_is_rebuilt_after_a_sync():
    group = cluster(A, B)
    cid = create(group, A, attrs=dict(ATTRS, checkpoint_size=1500, max_sections=8)).values["cid"]
    assert write_section(group, A, cid, b"a", b"x" * 500).code is AisError.OK
    assert write_section(group, A, cid, b"b", b"y" * 500).code is AisError.OK
    assert group.do(A, "section_overwrite", cid=cid, section=b"a", data=b"z" * 900).code is AisError.OK
    assert group.do(A, "section_write", cid=cid, section=b"b", data=b"w" * 10, offset=495).code is AisError.OK
    assert group.do(A, "section_delete", cid=cid, section=b"b").code is AisError.OK
    assert write_section(group, A, cid, b"c", b"v" * 700).code is AisError.NO_SPACE  # 900 + 700 > 1500
    assert write_section(group, A, cid, b"c", b"v" * 600).code is AisError.OK
    group.add(C)  # C gets the checkpoint by state transfer and counts its bytes itself
    group.run()
    for store in group.stores.values():
        ckpt = store.lookup("global")
        assert ckpt.used == sum(len(data) for data in ckpt.sections.values()) == 1500
    assert group.do(C, "section_overwrite", cid=cid, section=b"c", data=b"u" * 601).code is AisError.NO_SPACE
    assert group.do(C, "section_overwrite", cid=cid, section=b"c", data=b"u" * 100).code is AisError.OK
    assert {store.lookup("global").used for store in group.stores.values()} == {1000}


def test_the_compact_replication_version_is_used_only_when_every_member_speaks_it():
    group = cluster(A, B)
    assert [s.wire_version for s in group.stores.values()] == [REPLICATION_VERSION] * 2
    # A member that speaks version 1 only (an older daemon during a rolling upgrade) joins.
    old = CheckpointStore(C, group.now)
    old.max_wire_version = 1
    group.add(C, old)
    group.queue.pop(0)  # take the confchg by hand to look inside the sync
    group.view = group.next_view
    for member in group.view:
        for out in group.stores[member].on_confchg(group.view, group.now):
            assert out["repl"] == group.stores[member].max_wire_version
            group.queue.append(("msg", member, encode(out)))
    assert [s.wire_version for s in group.stores.values()] == [1, 1, 1]  # from the confchg on
    group.run()
    assert [s.wire_version for s in group.stores.values()] == [1, 1, 1]
    group.remove(C)
    group.run()
    assert [s.wire_version for s in group.stores.values()] == [REPLICATION_VERSION] * 2


@pytest.mark.parametrize("announced", [None, 0, "2", True, 99])
def test_a_digest_without_or_with_an_odd_version_is_decided_alike_everywhere(announced, monkeypatch):
    group = cluster(A)
    odd = CheckpointStore(B, group.now)
    digest = odd._digest

    def patched():
        msg = digest()
        if announced is None:
            del msg["repl"]
        else:
            msg["repl"] = announced
        return msg

    monkeypatch.setattr(odd, "_digest", patched)
    group.add(B, odd)
    group.run()
    expected = REPLICATION_VERSION if announced == 99 else 1
    assert [s.wire_version for s in group.stores.values()] == [expected, expected]


@pytest.mark.parametrize(
    "msg",
    [
        pytest.param({"t": "state", "ckpt": {"no": "fields"}}, id="state-without-fields"),
        pytest.param({"t": "state_part", "cid": "?", "sections": 5}, id="state-part-not-a-list"),
    ],
)
def test_a_malformed_sync_message_is_rejected_alike_and_named(msg):
    group = cluster(A, B)
    create(group, A)
    for member in (A, B):
        group.stores[member].on_confchg([A, B, C], group.now)  # a joiner: both enter SYNC
    for member in (A, B):
        store = group.stores[member]
        if msg["t"] == "state_part":
            msg = dict(msg, cid=next(iter(store.checkpoints)))
        with pytest.raises(MalformedMessage, match=f"malformed {msg['t']} message"):
            store.on_deliver(B, dict(msg, view=store.view), group.now)
    assert group.stores[A].checkpoints.keys() == group.stores[B].checkpoints.keys()


# -- quorum, partitions and merges (issue 17) ------------------------------------------------------

RW = OPEN_READ | OPEN_WRITE


def quorum_cluster(*members) -> SimGroup:
    """A group whose members are told their node's votequorum state (3 expected votes)."""
    return cluster(*members, expected_votes=3)


def replica_state(store) -> dict:
    """Everything the state machine keeps that must be alike on every member after a sync."""
    return {
        "view": store.view,
        "syncing": store.syncing,
        "quorate": getattr(store, "quorate", None),
        "quorate_epoch": getattr(store, "quorate_epoch", None),
        "wire_version": store.wire_version,
        "names": dict(store.names),
        "checkpoints": {cid: (c.dump(), sorted(c.openers)) for cid, c in sorted(store.checkpoints.items())},
        "retention_timers": sorted(store._zero_since.items()),
    }


def assert_identical(group: SimGroup) -> None:
    states = {member: replica_state(store) for member, store in group.stores.items()}
    first = next(iter(states.values()))
    for member, state in states.items():
        assert state == first, f"{member} differs from {next(iter(states))}"


def test_the_minority_refuses_writes_and_the_majority_acknowledged_writes_survive_the_merge():
    """Issue 17: 1 | 2 split, writers on both sides, merge. The one-node side used to acknowledge
    its writes and win the merge with its higher generation, undoing the majority's."""
    group = quorum_cluster(A, B, C)
    cid = create(group, A).values["cid"]
    for sid in (b"a", b"b", b"c"):
        assert write_section(group, A, cid, sid, b"init").code is AisError.OK
    assert group.do(B, "open", name="global", flags=RW, attrs=None, handle=2).code is AisError.OK
    minority = split(group, [A])
    acked = {"minority": 0, "majority": 0}
    refused = []
    for index in range(60):
        result = minority.do(A, "section_overwrite", cid=cid, section=b"c", data=f"A{index}".encode())
        if result.code is AisError.OK:
            acked["minority"] += 1
        else:
            refused.append(result)
    for index in range(10):
        for sid in (b"b", b"c"):
            result = group.do(B, "section_overwrite", cid=cid, section=sid, data=f"B{index}".encode())
            acked["majority"] += result.code is AisError.OK
    assert acked == {"minority": 0, "majority": 20}
    assert {(r.code, r.detail.split(":")[0]) for r in refused} == {(AisError.TRY_AGAIN, "not quorate")}
    # A reader on the minority sees the data as it was at the split (stale, never half-written).
    assert sections(minority.stores[A], "global") == {b"a": b"init", b"b": b"init", b"c": b"init"}
    heal(group, minority)
    for store in group.stores.values():
        assert sections(store, "global") == {b"a": b"init", b"b": b"B9", b"c": b"B9"}
    assert_identical(group)
    assert group.do(A, "section_overwrite", cid=cid, section=b"a", data=b"A-again").code is AisError.OK


def test_a_name_created_on_both_sides_is_created_only_by_the_quorate_one():
    group = quorum_cluster(A, B, C)
    minority = split(group, [A])
    refused = create(minority, A, name="shared")
    made = create(group, B, name="shared", handle=2)
    assert refused.code is AisError.TRY_AGAIN and refused.detail.startswith("not quorate")
    assert made.code is AisError.OK
    assert write_section(group, B, made.values["cid"], b"s", b"majority").code is AisError.OK
    heal(group, minority)
    for store in group.stores.values():
        assert store.lookup("shared").cid == made.values["cid"]
        assert sections(store, "shared") == {b"s": b"majority"}
        assert list(store.checkpoints) == [made.values["cid"]]
    assert_identical(group)


def test_the_handle_release_counter_is_agreed_at_a_merge_and_expiry_is_alike_everywhere():
    """Issue 17: node 3 holds a checkpoint with 1 s retention; {1} | {2, 3}; merge; close. Only node 1
    counted the handle release at the split, the sync did not compare the counter, and node 1 (the
    leader) then deleted the checkpoint alone; an exclusive create on node 1 succeeded while node 2
    still read the old data."""
    short = dict(ATTRS, retention_duration=1_000_000_000)
    group = quorum_cluster(A, B, C)
    cid = create(group, C, attrs=short).values["cid"]
    assert write_section(group, C, cid, data=b"old").code is AisError.OK
    minority = split(group, [A])
    heal(group, minority)
    assert_identical(group)
    assert group.do(C, "close", cid=cid, handle=1).code is AisError.OK
    group.tick(1.5)
    assert all(s.lookup("global") is None for s in group.stores.values())
    again = create(group, A, attrs=short, flags=RW_CREATE | OPEN_EXCLUSIVE, handle=9)
    assert again.code is AisError.OK
    for store in group.stores.values():
        assert store.lookup("global").cid == again.values["cid"] and sections(store, "global") == {}
    assert_identical(group)


def test_nothing_expires_in_a_minority_and_the_quorate_side_decides_deletions():
    short = dict(ATTRS, retention_duration=1_000_000_000)
    group = quorum_cluster(A, B, C)
    kept = create(group, C, attrs=short).values["cid"]
    gone = create(group, C, name="gone", attrs=short, handle=2).values["cid"]
    minority = split(group, [A])  # C's handles are gone for A
    minority.tick(5.0)
    assert set(minority.stores[A].checkpoints) == {kept, gone}  # not quorate: nothing expires
    assert group.do(C, "close", cid=gone, handle=2).code is AisError.OK
    group.tick(1.5)  # the quorate side expires "gone"
    assert group.stores[B].lookup("gone") is None
    heal(group, minority)
    assert all(s.lookup("gone") is None and s.lookup("global").cid == kept for s in group.stores.values())
    assert_identical(group)


def test_a_stale_quorate_reading_in_a_minority_does_not_make_it_quorate():
    """corosync's quorum news may come after the CPG confchg: the view must hold the votes itself."""
    group = quorum_cluster(A, B, C)
    cid = create(group, B).values["cid"]
    minority = split(group, [A], stale=True)
    assert minority.stores[A].local_quorum["quorate"]  # A's corosync has not noticed yet
    assert not minority.stores[A].quorate
    result = minority.do(A, "section_create", cid=cid, section=b"x", data=b"x")
    assert result.code is AisError.TRY_AGAIN and result.detail.startswith("not quorate")


def test_a_merge_with_a_stale_not_quorate_reading_is_quorate_once_the_member_reads_again():
    group = quorum_cluster(A, B, C)
    cid = create(group, B).values["cid"]
    minority = split(group, [A])
    group.stale_quorum = {A}  # at the merge A still reports its lonely view
    heal(group, minority)
    assert all(not s.quorate for s in group.stores.values())
    assert group.do(B, "section_create", cid=cid, section=b"x", data=b"x").code is AisError.TRY_AGAIN
    group.stale_quorum = set()
    group.requorum()  # A's next poll: a quorum message, applied in agreed order
    assert all(s.quorate for s in group.stores.values())
    assert group.do(B, "section_create", cid=cid, section=b"x", data=b"x").code is AisError.OK
    assert_identical(group)


def test_without_quorum_facts_the_store_behaves_as_before():
    group = cluster(A, B)
    assert all(s.quorate and s.quorate_epoch == 0 for s in group.stores.values())


@pytest.mark.parametrize(
    "facts",
    [
        {"quorate": "yes", "votes": 1, "quorum": 2},
        {"quorate": True, "votes": 1},
        {"quorate": True, "votes": True, "quorum": 1},
    ],
)
def test_malformed_quorum_facts_are_rejected_alike(facts):
    group = quorum_cluster(A, B)
    for store in group.stores.values():
        with pytest.raises(MalformedMessage, match="malformed quorum message"):
            store.on_deliver(B, {"t": "quorum", "view": store.view, "quorum": facts}, group.now)
    assert_identical(group)


@pytest.mark.parametrize("with_quorum", [True, False], ids=["votequorum", "no-quorum-facts"])
def test_random_partitions_merges_and_closes_keep_every_replica_identical(with_quorum):
    """Property test (fixed seed, bounded): after every completed sync all replicas of a partition
    hold exactly the same state, and every write a quorate partition acknowledged is there after
    the final merge. Without quorum facts (old daemons) every partition writes and the merge rule
    is the old one (higher generation): replicas must still be identical."""
    import random

    rng = random.Random(17)
    members = [A, B, C]
    long_attrs = dict(ATTRS, retention_duration=10**15, max_sections=10_000, checkpoint_size=10**7)
    short_attrs = dict(ATTRS, retention_duration=1_000_000_000)
    names = {"long-1": long_attrs, "long-2": long_attrs, "short-1": short_attrs, "short-2": short_attrs}
    whole = quorum_cluster(*members) if with_quorum else cluster(*members)
    parts = [whole]
    handles: dict = {}  # (member, handle) -> cid
    next_handle = iter(range(1, 10**6))
    acknowledged: dict = {}  # (cid, section) -> data, writes acknowledged by a quorate partition
    checks = 0
    stats = {"acked": 0, "refused": 0, "splits": 0, "merges": 0}

    def part_of(member):
        return next(p for p in parts if member in p.stores)

    for step in range(400):
        action = rng.choice(["open", "open", "write", "write", "write", "close", "tick", "split", "merge"])
        member = rng.choice(members)
        group = part_of(member)
        if action == "open":
            name = rng.choice(list(names))
            hid = next(next_handle)
            result = group.do(member, "open", name=name, flags=RW_CREATE, attrs=names[name], handle=hid)
            if result.code is AisError.OK:
                handles[(member, hid)] = result.values["cid"]
        elif action == "write" and any(m == member for m, _h in handles):
            key = rng.choice(sorted(k for k in handles if k[0] == member))
            sid, data = f"s{step}".encode(), f"{member[0]}:{step}".encode()
            result = group.do(member, "section_create", cid=handles[key], section=sid, data=data)
            if result.code is AisError.OK:
                # Acknowledged: only by a quorate partition (the split-off minority sides refuse).
                quorate = sum(1 for m in members if m in group.stores) >= 2
                assert quorate or not with_quorum, "a partition without quorum acknowledged a write"
                ckpt = group.stores[member].checkpoints[handles[key]]
                if ckpt.attrs["retention_duration"] == long_attrs["retention_duration"]:
                    acknowledged[(handles[key], sid)] = data  # never deleted: must all be there
                stats["acked"] += 1
            else:
                stats["refused"] += 1
        elif action == "close" and any(m == member for m, _h in handles):
            key = rng.choice(sorted(k for k in handles if k[0] == member))
            if group.do(member, "close", cid=handles[key], handle=key[1]).code is AisError.OK:
                del handles[key]
        elif action == "tick":
            for part in parts:
                part.tick(rng.choice([0.2, 0.7, 1.5]))
        elif action == "split" and len(group.stores) > 1:
            away = rng.sample(sorted(group.stores), rng.randint(1, len(group.stores) - 1))
            parts.append(split(group, sorted(away)))
            stats["splits"] += 1
        elif action == "merge" and len(parts) > 1:
            first, second = rng.sample(parts, 2)
            parts.remove(second)
            heal(first, second)
            stats["merges"] += 1
        for part in parts:
            part.run()
            assert all(not s.syncing for s in part.stores.values())
            assert_identical(part)
            checks += 1
        # Handles of a checkpoint deleted by the quorate side are gone.
        handles = {k: cid for k, cid in handles.items() if cid in part_of(k[0]).stores[k[0]].checkpoints}
    while len(parts) > 1:
        heal(parts[0], parts.pop())
    final = parts[0]
    assert_identical(final)
    assert checks > 400 and len(acknowledged) > 20 and stats["merges"] > 10
    if not with_quorum:
        return
    assert stats["refused"] > 10
    store = final.stores[A]
    for (cid, sid), data in acknowledged.items():
        assert cid in store.checkpoints, f"checkpoint {cid} with acknowledged writes lost"
        assert store.checkpoints[cid].sections.get(sid) == data, f"acknowledged write {sid!r} of {cid} lost"
