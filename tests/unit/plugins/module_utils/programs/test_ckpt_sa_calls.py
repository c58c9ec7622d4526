"""Issue 17: the default section, saCkptSectionExpirationTimeSet, saCkptCheckpointRetentionDurationSet,
and the codes for data beyond max_section_size, in the replicated store over the simulated CPG."""

from __future__ import annotations

import pytest
from harness.ckpt_fixtures import ATTRS, RW_CREATE, A, B, C, cluster
from harness.sim_cpg import SimGroup

from ansible_collections.quorate.cluster.plugins.module_utils.programs.ckpt_store import (
    Checkpoint,
    CheckpointStore,
    MalformedMessage,
)
from ansible_collections.quorate.cluster.plugins.module_utils.shared.ais_errors import AisError
from ansible_collections.quorate.cluster.plugins.module_utils.shared.ckpt_attributes import validate_attributes
from ansible_collections.quorate.cluster.plugins.module_utils.shared.ckpt_protocol import (
    DEFAULT_SECTION_ID,
    MSG_SECTION_EXPIRE,
    OPEN_READ,
    SA_TIME_END,
    decode_replication,
    encode,
    encode_record,
    replication_payload,
)

ONE = dict(ATTRS, max_sections=1)
T0 = 1_800_000_000 * 10**9  # an absolute SaTimeT (ns since the epoch)


class Clocks:
    """One wall clock per member, each settable: the members' clocks need not agree."""

    def __init__(self, group: SimGroup):
        self.now = {}
        for member, store in group.stores.items():
            self.now[member] = T0
            store.wall_clock_ns = lambda m=member: self.now[m]

    def set(self, value: int, **skew) -> None:
        for member in self.now:
            self.now[member] = value
        for member, offset in skew.items():
            self.now[{"a": A, "b": B, "c": C}[member]] += offset


def create(group, member=A, name="g", attrs=None, handle=1):
    attrs = ATTRS if attrs is None else attrs
    result = group.do(member, "open", name=name, flags=RW_CREATE, attrs=attrs, handle=handle)
    assert result.code is AisError.OK, result
    return result.values["cid"]


def replicas(group, name="g"):
    """Every member's (sections, expirations, retention) of ``name``; asserts they are equal."""
    seen = {
        m: (dict(s.lookup(name).sections), dict(s.lookup(name).expirations), s.lookup(name).retention_duration)
        for m, s in group.stores.items()
    }
    first = next(iter(seen.values()))
    assert all(value == first for value in seen.values()), seen
    hashes = {s.lookup(name).content_hash() for s in group.stores.values()}
    assert len(hashes) == 1
    return first


# -- the default section ---------------------------------------------------------------------------


def test_max_sections_one_has_the_default_section_from_creation_on():
    group = cluster(A, B)
    cid = create(group, attrs=ONE)
    sections, expirations, _retention = replicas(group)
    assert sections == {DEFAULT_SECTION_ID: b""} and expirations == {}
    assert group.do(A, "section_overwrite", cid=cid, section=b"", data=b"hello").code is AisError.OK
    assert group.do(B, "section_write", cid=cid, section=b"", data=b"J", offset=0).code is AisError.OK
    assert replicas(group)[0] == {b"": b"Jello"}
    listing = group.stores[B].listing()[0]
    assert listing["sections"] == 1 and listing["bytes"] == 5


@pytest.mark.parametrize(
    "op, args, code",
    [
        pytest.param("section_create", {"section": b"x", "data": b""}, AisError.EXIST, id="create-named"),
        pytest.param("section_create", {"section": b"", "data": b""}, AisError.EXIST, id="create-default"),
        pytest.param("section_delete", {"section": b""}, AisError.INVALID_PARAM, id="delete-default"),
        pytest.param(
            "section_expiration_set", {"section": b"", "expiration": T0}, AisError.INVALID_PARAM, id="expire-default"
        ),
        pytest.param(
            "section_overwrite", {"section": b"", "data": b"x" * 1025}, AisError.INVALID_PARAM, id="too-much-data"
        ),
    ],
)
def test_the_default_section_cannot_be_created_deleted_or_expire(op, args, code):
    group = cluster(A, B)
    cid = create(group, attrs=ONE)
    assert group.do(A, op, cid=cid, **args).code is code
    assert replicas(group)[0] == {b"": b""}


def test_more_sections_have_no_default_section():
    group = cluster(A)
    cid = create(group)
    assert replicas(group)[0] == {}
    assert group.do(A, "section_overwrite", cid=cid, section=b"", data=b"x").code is AisError.NOT_EXIST
    assert group.do(A, "section_create", cid=cid, section=b"", data=b"").code is AisError.INVALID_PARAM
    assert group.do(A, "section_delete", cid=cid, section=b"").code is AisError.INVALID_PARAM


# -- data beyond max_section_size ----------------------------------------------------------------


@pytest.mark.parametrize(
    "op, args",
    [
        pytest.param("section_create", {"section": b"new", "data": b"x" * 1025}, id="create"),
        pytest.param("section_overwrite", {"section": b"s", "data": b"x" * 1025}, id="overwrite"),
        pytest.param("section_write", {"section": b"s", "data": b"x" * 1000, "offset": 30}, id="write"),
    ],
)
def test_data_beyond_max_section_size_is_invalid_param(op, args):
    group = cluster(A, B)
    cid = create(group)
    assert group.do(A, "section_create", cid=cid, section=b"s", data=b"y" * 30).code is AisError.OK
    assert group.do(A, op, cid=cid, **args).code is AisError.INVALID_PARAM
    assert replicas(group)[0] == {b"s": b"y" * 30}


# -- creation attributes -----------------------------------------------------------------------------


def test_testckpt_attributes_are_accepted():
    # openais test/testckpt.c: checkpointSize 100000, maxSectionSize 200000 (1 section, then 5).
    for sections in (1, 5, 20):
        attrs = dict(ATTRS, checkpoint_size=100000, max_section_size=200000, max_sections=sections)
        code, why, norm = validate_attributes(attrs)
        assert code is AisError.OK, why
        assert norm["max_section_size"] == 200000


def test_a_section_larger_than_checkpoint_size_gets_no_space():
    group = cluster(A)
    cid = create(group, attrs=dict(ATTRS, checkpoint_size=100, max_section_size=200))
    assert group.do(A, "section_create", cid=cid, section=b"s", data=b"x" * 150).code is AisError.NO_SPACE
    assert group.do(A, "section_create", cid=cid, section=b"s", data=b"x" * 100).code is AisError.OK
    assert group.do(A, "section_write", cid=cid, section=b"s", data=b"x", offset=100).code is AisError.NO_SPACE


# -- section expiration --------------------------------------------------------------------------------


def test_expiration_set_replicates_and_the_leader_expires_for_everyone():
    group = cluster(A, B, C)
    clocks = Clocks(group)
    cid = create(group)
    for sid in (b"keep", b"soon", b"later"):
        assert group.do(B, "section_create", cid=cid, section=sid, data=sid).code is AisError.OK
    assert group.do(B, "section_expiration_set", cid=cid, section=b"soon", expiration=T0 + 10).code is AisError.OK
    assert group.do(C, "section_expiration_set", cid=cid, section=b"later", expiration=T0 + 99).code is AisError.OK
    assert replicas(group)[1] == {b"soon": T0 + 10, b"later": T0 + 99}
    # B's and C's clocks are far ahead: only the leader's (A's) decides, so nothing goes yet.
    clocks.set(T0 + 9, b=10**12, c=10**12)
    group.tick(0.05)
    assert set(replicas(group)[0]) == {b"keep", b"soon", b"later"}
    clocks.set(T0 + 10)
    group.tick(0.05)
    sections, expirations, _retention = replicas(group)
    assert set(sections) == {b"keep", b"later"} and expirations == {b"later": T0 + 99}
    group.tick(0.05)  # asked once only
    assert set(replicas(group)[0]) == {b"keep", b"later"}


def test_sa_time_end_means_never_and_a_later_set_wins_over_a_stale_expiry():
    group = cluster(A, B)
    clocks = Clocks(group)
    cid = create(group)
    assert group.do(A, "section_create", cid=cid, section=b"s", data=b"v", expiration=T0 + 5).code is AisError.OK
    assert replicas(group)[1] == {b"s": T0 + 5}
    # The leader asks for the expiry, but a set to SA_TIME_END is delivered first: it wins everywhere.
    clocks.set(T0 + 6)
    expiry = group.stores[A].tick(group.now)
    assert expiry == [{"t": MSG_SECTION_EXPIRE, "cid": cid, "section": b"s", "expiration": T0 + 5}]
    assert group.do(B, "section_expiration_set", cid=cid, section=b"s", expiration=SA_TIME_END).code is AisError.OK
    group.queue.append(("msg", A, encode(expiry[0])))
    group.run()
    assert replicas(group)[:2] == ({b"s": b"v"}, {})
    clocks.set(SA_TIME_END - 1)
    group.tick(0.05)
    assert replicas(group)[0] == {b"s": b"v"}


@pytest.mark.parametrize(
    "args, code",
    [
        pytest.param({"section": b"nope", "expiration": T0}, AisError.NOT_EXIST, id="no-section"),
        pytest.param({"section": b"s", "expiration": -1}, AisError.INVALID_PARAM, id="negative"),
        pytest.param({"section": b"s", "expiration": "soon"}, AisError.INVALID_PARAM, id="not-a-number"),
        pytest.param({"section": b"s", "expiration": True}, AisError.INVALID_PARAM, id="bool"),
    ],
)
def test_expiration_set_errors(args, code):
    group = cluster(A)
    cid = create(group)
    assert group.do(A, "section_create", cid=cid, section=b"s", data=b"v").code is AisError.OK
    assert group.do(A, "section_expiration_set", cid=cid, **args).code is code
    assert replicas(group)[1] == {}


def test_deleting_a_section_drops_its_expiration_and_a_stale_expiry_is_ignored():
    group = cluster(A, B)
    Clocks(group)
    cid = create(group)
    group.do(A, "section_create", cid=cid, section=b"s", data=b"v", expiration=T0 + 5)
    assert group.do(A, "section_delete", cid=cid, section=b"s").code is AisError.OK
    group.do(A, "section_create", cid=cid, section=b"s", data=b"w")
    group.queue.append(("msg", A, encode({"t": MSG_SECTION_EXPIRE, "cid": cid, "section": b"s", "expiration": T0 + 5})))
    group.run()
    assert replicas(group)[:2] == ({b"s": b"w"}, {})


def test_section_expiry_waits_for_the_end_of_a_sync_and_the_new_leader_asks():
    group = cluster(A, B)
    clocks = Clocks(group)
    cid = create(group, member=B)
    group.do(B, "section_create", cid=cid, section=b"s", data=b"v", expiration=T0 + 5)
    clocks.set(T0 + 5)
    expiry = group.stores[A].tick(group.now)
    assert len(expiry) == 1
    group.remove(A)  # the leader leaves with its expiry unsent: B leads now
    group.run()
    assert replicas(group)[0] == {b"s": b"v"}
    group.tick(0.05)
    assert group.stores[B].lookup("g").sections == {}


# -- retention duration set ------------------------------------------------------------------------


def test_retention_set_replicates_and_governs_the_expiry_of_the_checkpoint():
    group = cluster(A, B)
    cid = create(group)  # retention 2 s
    assert group.do(B, "open", name="g", flags=OPEN_READ, attrs=None, handle=7).code is AisError.OK
    assert group.do(B, "retention_duration_set", cid=cid, retention=10 * 10**9).code is AisError.OK
    assert replicas(group)[2] == 10 * 10**9
    assert group.stores[A].listing()[0]["retention_duration"] == 10 * 10**9
    # An open with the creation attributes still matches: they are what the checkpoint was created with.
    assert group.do(A, "open", name="g", flags=RW_CREATE, attrs=ATTRS, handle=2).code is AisError.OK
    for member, handle in ((A, 1), (A, 2), (B, 7)):
        assert group.do(member, "close", cid=cid, handle=handle).code is AisError.OK
    group.tick(5.0)
    assert all(s.lookup("g") is not None for s in group.stores.values())  # not after 2 s any more
    group.tick(5.5)
    assert all(s.lookup("g") is None for s in group.stores.values())


def test_retention_set_errors():
    group = cluster(A)
    cid = create(group)
    assert group.do(A, "retention_duration_set", cid=cid, retention=-1).code is AisError.INVALID_PARAM
    assert group.do(A, "retention_duration_set", cid=cid, retention=SA_TIME_END).code is AisError.OK
    assert group.stores[A].listing()[0]["retention_duration"] == SA_TIME_END
    assert group.do(A, "unlink", name="g").code is AisError.OK
    assert group.do(A, "retention_duration_set", cid=cid, retention=0).code is AisError.BAD_OPERATION
    assert group.do(A, "retention_duration_set", cid="9.9.9", retention=0).code is AisError.BAD_HANDLE


# -- sync carries the new state -----------------------------------------------------------------------


def test_a_joiner_gets_the_default_section_expirations_and_retention():
    group = cluster(A, B)
    Clocks(group)
    one = create(group, name="one", attrs=ONE)
    group.do(A, "section_overwrite", cid=one, section=b"", data=b"default data")
    cid = create(group, handle=2)
    group.do(A, "section_create", cid=cid, section=b"s", data=b"v", expiration=T0 + 50)
    group.do(A, "retention_duration_set", cid=cid, retention=7 * 10**9)
    group.add(C)
    group.run()
    assert not group.stores[C].syncing
    assert replicas(group, "one")[0] == {b"": b"default data"}
    assert replicas(group) == ({b"s": b"v"}, {b"s": T0 + 50}, 7 * 10**9)
    # And the joiner's copy expires with everyone's.
    Clocks(group).set(T0 + 50)
    group.tick(0.05)
    assert replicas(group)[0] == {}


def test_dump_and_load_round_trip_and_an_old_dump_loads():
    ckpt = Checkpoint(cid="1.1.1", name="g", attrs=dict(ATTRS), sections={b"": b"d", b"s": b"v"})
    ckpt.expirations[b"s"] = T0
    ckpt.retention = 5
    loaded = Checkpoint.load(ckpt.dump())
    assert (loaded.sections, loaded.expirations, loaded.retention) == (ckpt.sections, {b"s": T0}, 5)
    assert loaded.content_hash() == ckpt.content_hash()
    old = ckpt.dump()
    del old["expirations"], old["retention"]  # from a member that predates issue 17
    loaded = Checkpoint.load(old)
    assert loaded.expirations == {} and loaded.retention is None
    assert loaded.retention_duration == ATTRS["retention_duration"]


def test_a_checkpoint_without_the_new_state_hashes_as_before():
    plain = Checkpoint(cid="1.1.1", name="g", attrs=dict(ATTRS), sections={b"s": b"v"})
    before = plain.content_hash()
    plain._hash = None
    plain.expirations[b"s"] = T0
    assert plain.content_hash() != before


# -- the wire -------------------------------------------------------------------------------------------


def test_new_messages_go_through_both_replication_versions():
    msgs = [
        {
            "t": "op",
            "op": "section_expiration_set",
            "token": 1,
            "args": {"cid": "1.1.1", "section": b"s", "expiration": T0},
        },
        {"t": "op", "op": "retention_duration_set", "token": 2, "args": {"cid": "1.1.1", "retention": SA_TIME_END}},
        {
            "t": "op",
            "op": "section_create",
            "token": 3,
            "args": {"cid": "c", "section": b"s", "data": b"", "expiration": 9},
        },
        {"t": MSG_SECTION_EXPIRE, "cid": "1.1.1", "section": b"", "expiration": T0},
    ]
    assert decode_replication(replication_payload([encode_record(m) for m in msgs])) == (msgs, [])
    for msg in msgs:
        assert decode_replication(encode(msg)) == ([msg], [])


def test_a_store_ignores_malformed_section_expiries():
    store = CheckpointStore(A)
    queue = store.on_confchg([A], 0.0)
    while queue:
        queue.extend(store.on_deliver(A, queue.pop(0), 0.0)[0])
    before = store.checkpoints.copy()
    # Malformed: refused by the one peer-message check (ckpt_messages), alike on every member.
    for msg in ({"t": MSG_SECTION_EXPIRE}, {"t": MSG_SECTION_EXPIRE, "cid": 3, "section": "s", "expiration": "x"}):
        with pytest.raises(MalformedMessage):
            store.on_deliver(A, msg, 0.0)
    # Well-formed, for a checkpoint nobody holds: nothing to do.
    assert store.on_deliver(A, {"t": MSG_SECTION_EXPIRE, "cid": "nope", "section": b"s", "expiration": T0}, 0.0) == (
        [],
        None,
    )
    assert store.checkpoints == before


# -- a member from before these calls ------------------------------------------------------------------


def test_with_a_member_that_predates_them_the_new_state_stays_off_alike():
    group = SimGroup()
    group.add(A)
    old = CheckpointStore(B)
    old.announced_features = frozenset()  # its digest has no "features", as a daemon from before
    group.add(B, old)
    group.run()
    assert all(not s.features for s in group.stores.values())
    one = create(group, name="one", attrs=ONE)
    assert replicas(group, "one")[0] == {}  # no default section anywhere: B would not have made one
    assert group.do(A, "section_create", cid=one, section=b"s", data=b"v").code is AisError.OK  # as before
    cid = create(group, handle=2)
    group.do(A, "section_create", cid=cid, section=b"s", data=b"v")
    for op, args in (
        ("section_expiration_set", {"section": b"s", "expiration": T0}),
        ("retention_duration_set", {"retention": 5}),
        ("section_create", {"section": b"t", "data": b"", "expiration": T0}),
    ):
        assert group.do(A, op, cid=cid, **args).code is AisError.NOT_SUPPORTED
    assert replicas(group) == ({b"s": b"v"}, {}, ATTRS["retention_duration"])
    group.remove(B)  # upgraded away: on again
    group.run()
    assert group.stores[A].features == {"sa-calls"}
    assert group.do(A, "retention_duration_set", cid=cid, retention=5).code is AisError.OK
