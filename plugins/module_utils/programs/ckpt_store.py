# Copyright: quorate.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The checkpoint service's replicated state machine (SA Forum AIS Checkpoint, B-series).

Pure logic, no I/O: the daemon feeds it CPG events (configuration changes and messages in
agreed order) and sends what it returns. Every member applies the same messages in the same
order, so every member holds the same checkpoints; reads are served from the local copy.

Configuration changes. On every confchg all members enter SYNC: client calls get TRY_AGAIN
and operations delivered during SYNC are ignored by everyone alike (their senders answer
TRY_AGAIN). Each member multicasts a digest: per checkpoint its name, generation, a hash of
its whole replicated state (content, attributes, name, generation, unlinked and the
handle-release counter zero_epoch) and the handles its own clients hold; besides, its node's
votequorum facts and its quorate epoch (below). When the digests of every member of the current
view are in, all members run the same rule: only the members with the highest quorate epoch
are sources; per checkpoint, the source is the one of them with the highest generation, ties to
the lowest (nodeid, pid); if any member lacks the checkpoint or holds a different (generation,
state hash), the source multicasts the whole checkpoint. A checkpoint that none of the sources
holds is deleted by everyone. Handles are rebuilt from the digests. Then every member
multicasts "sync done"; SYNC ends when all have. A confchg during SYNC restarts it. After every
sync the replicas are identical in everything this class keeps (the unit tests compare it all).

Quorum. Only a quorate view changes the checkpoints. The daemon feeds ``set_quorum`` with its
node's votequorum state (quorate, this node's votes, the quorum), read at each confchg and
polled; the facts go into the digest, and a change between confchgs goes out as a quorum
message that every member applies in agreed order. The view is quorate, alike on every member,
when every member that reports facts says quorate and the view's nodes (their reported votes)
reach the highest quorum reported: a stale "quorate" reading on a node that just lost the
others cannot make its partition quorate. No facts at all (unit tests, older daemons): quorate,
as before. Without quorum, creations, unlinks and every section change answer TRY_AGAIN with a
detail starting "not quorate" (the retry client's Case.NOT_QUORATE); opening existing
checkpoints, closing handles and reads (local) work, and reads show the state as of the split
(possibly stale). Retention does not expire anything there either.

Merges. The quorate epoch counts the syncs and quorum messages that made a view quorate; each
sync adopts the highest epoch of its digests (+1 if the view is quorate). Quorate views of a
cluster always share a member (majorities intersect), so the highest epoch marks the state of
the latest quorate partition: it wins every checkpoint whole, and what a minority held
meanwhile (which acknowledged no change) is dropped, including checkpoints it still held that
the quorate side deleted. If no side ever was quorate since they parted (equal epochs), the
rule is the old one: highest generation, ties to the lowest member; two checkpoints with one
name keep the one whose creator id sorts lowest (the other is unlinked, open handles keep
working until closed). State is only in memory: data survives as long as one member that holds
it stays up. Residual window: corosync CPG gives agreed, not safe, delivery; a write the
minority node multicast in the last token rotation before the cut, and that reached none of
the others, is delivered to that node alone before its confchg (while its view still was
quorate), acknowledged, and dropped at the merge.

Retention. When the last handle on a checkpoint closes (or its holder leaves the membership),
zero_epoch is bumped and its retention timer starts on every member; the lowest member (the
leader) of a quorate view multicasts an expiry naming the zero_epoch when the time runs out,
and everyone deletes the checkpoint if it is still unused at that epoch. A sync makes
zero_epoch identical everywhere and restarts every unused checkpoint's timer.
The retention duration can be changed after creation (saCkptCheckpointRetentionDurationSet); the
creation attributes an open compares stay those the checkpoint was created with.

Section expiry. A section's expiration time is an absolute SaTimeT (ns since the epoch, in the
client's clock), stored as given; SA_TIME_END means never. Only the leader compares it with its
own wall clock, and multicasts MSG_SECTION_EXPIRE; every member deletes the section when that
message is delivered, if the section still has that expiration time (a later
saCkptSectionExpirationTimeSet delivered first wins alike everywhere). Clock skew between the
nodes therefore changes when a section goes, never whether the replicas agree.

Default section. A checkpoint created with max_sections 1 has exactly one section from its
creation on, SA_CKPT_DEFAULT_SECTION_ID (the empty id): it cannot be created, deleted or given
an expiration time, and is read and written like any other.

Mixed versions. The default section, expiration times and retention set change replicated state
that a daemon from before them would not apply alike. So they are on only while every member of
the view announced them in its sync digest ("features"), decided alike on every member like the
wire version; until then a checkpoint gets no default section, the new calls answer
NOT_SUPPORTED and the leader expires no section.

Stdlib only: this file is installed on the nodes for the checkpoint daemon.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

from ..shared.ais_errors import NOT_QUORATE_DETAIL, AisError
from ..shared.ckpt_attributes import validate_attributes
from ..shared.ckpt_protocol import (
    DEFAULT_SECTION_ID,
    MAX_NAME_LENGTH,
    MSG_DIGEST,
    MSG_EXPIRE,
    MSG_OP,
    MSG_QUORUM,
    MSG_SECTION_EXPIRE,
    MSG_STATE,
    MSG_STATE_PART,
    MSG_SYNC_DONE,
    OP_CLOSE,
    OP_OPEN,
    OP_RETENTION_DURATION_SET,
    OP_SECTION_CREATE,
    OP_SECTION_DELETE,
    OP_SECTION_EXPIRATION_SET,
    OP_SECTION_OVERWRITE,
    OP_SECTION_WRITE,
    OP_UNLINK,
    OPEN_CREATE,
    OPEN_EXCLUSIVE,
    OPEN_FLAGS_ALL,
    REPLICATION_VERSION,
    SA_TIME_END,
    SYNC_MESSAGES,
)
from .ckpt_messages import MalformedMessage, check_message

# (nodeid, pid) of a daemon in the group.
Member = tuple

# What a daemon announces in its sync digest, on once every member of the view does: the default
# section, section expiration times and the retention duration set after creation (issue 17).
FEATURE_SA_CALLS = "sa-calls"
FEATURES = frozenset((FEATURE_SA_CALLS,))

# Section data per sync message: well below what one CPG message carries comfortably.
STATE_CHUNK = 256 * 1024


@dataclass
class Checkpoint:
    cid: str
    name: str
    attrs: dict
    sections: dict = field(default_factory=dict)  # section id (bytes) -> data (bytes)
    generation: int = 0
    unlinked: bool = False
    zero_epoch: int = 0  # bumped each time the last handle goes away
    openers: set = field(default_factory=set)  # {(nodeid, pid, handle id)}
    expirations: dict = field(default_factory=dict)  # section id -> expiration (ns); absent: never
    retention: int | None = None  # set after creation; None: attrs["retention_duration"]
    _hash: str | None = None
    _used: int | None = None  # bytes in all sections; None: count again

    @property
    def used(self) -> int:
        if self._used is None:
            self._used = sum(len(data) for data in self.sections.values())
        return self._used

    def touch(self, used: int | None = None) -> None:
        """One more update; ``used`` is the byte count after it, when the caller knows it."""
        self.generation += 1
        self._hash = None
        self._used = used

    @property
    def retention_duration(self) -> int:
        """The retention duration in force (ns): the creation attribute, or what was set since."""
        return self.attrs["retention_duration"] if self.retention is None else self.retention

    def content_hash(self) -> str:
        if self._hash is None:
            digest = hashlib.sha256(repr(sorted(self.attrs.items())).encode())
            for sid in sorted(self.sections):
                digest.update(len(sid).to_bytes(4, "big") + sid)
                digest.update(len(self.sections[sid]).to_bytes(4, "big") + self.sections[sid])
            if self.expirations or self.retention is not None:
                # Only then: a checkpoint without either hashes as it did before.
                digest.update(repr((sorted(self.expirations.items()), self.retention)).encode())
            self._hash = digest.hexdigest()[:16]
        return self._hash

    def state_hash(self) -> str:
        """Everything the sync must agree on besides the handles (rebuilt from the digests):
        content, generation, name, unlinked and the handle-release counter."""
        head = repr((self.cid, self.name, self.generation, self.unlinked, self.zero_epoch)).encode()
        return hashlib.sha256(head + self.content_hash().encode()).hexdigest()[:16]

    def dump(self) -> dict:
        return {
            "cid": self.cid,
            "name": self.name,
            "attrs": dict(self.attrs),
            "sections": [[sid, data] for sid, data in sorted(self.sections.items())],
            "generation": self.generation,
            "unlinked": self.unlinked,
            "zero_epoch": self.zero_epoch,
            "expirations": [[sid, when] for sid, when in sorted(self.expirations.items())],
            "retention": self.retention,
        }

    @classmethod
    def load(cls, data: dict) -> Checkpoint:
        return cls(
            cid=data["cid"],
            name=data["name"],
            attrs=dict(data["attrs"]),
            sections={bytes(sid): bytes(value) for sid, value in data["sections"]},
            generation=int(data["generation"]),
            unlinked=bool(data["unlinked"]),
            zero_epoch=int(data["zero_epoch"]),
            # Absent from a member that predates them: no expirations, the creation retention.
            expirations={bytes(sid): int(when) for sid, when in data.get("expirations") or []},
            retention=None if data.get("retention") is None else int(data["retention"]),
        )


@dataclass
class Result:
    """The outcome of one operation, for the daemon to answer its client with."""

    code: AisError
    detail: str = ""
    values: dict = field(default_factory=dict)
    malformed: bool = False  # rejected by check_message: the daemon logs it


def _quorum_facts(value: Any) -> dict:
    """A member's votequorum facts as carried in digests and quorum messages (validated)."""
    quorate, votes, quorum = value["quorate"], value["votes"], value["quorum"]
    if not isinstance(quorate, bool) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in (votes, quorum)
    ):
        raise ValueError(f"quorum facts {value!r}")
    return {"quorate": quorate, "votes": votes, "quorum": quorum}


def _view_key(members: list) -> list:
    return sorted([int(nodeid), int(pid)] for nodeid, pid in members)


class CheckpointStore:
    """All checkpoints of the cluster as this member sees them, plus the sync protocol."""

    def __init__(self, me: Member, now: float = 0.0):
        self.me = (int(me[0]), int(me[1]))
        self.checkpoints: dict[str, Checkpoint] = {}  # cid -> checkpoint
        self.names: dict[str, str] = {}  # name -> cid of the linked checkpoint
        self.view: list = []  # sorted [nodeid, pid] of the current members
        self.syncing = True  # until our first view has synced
        self._digests: dict = {}
        self._done: set = set()
        self._pending_openers: dict[str, set] = {}  # handles per checkpoint, from this round's digests
        self._zero_since: dict[str, float] = {}  # cid -> local time its last handle went away
        self._expiry_sent: dict[str, int] = {}  # cid -> zero_epoch an expiry was sent for
        self._section_expiry_sent: dict[str, set] = {}  # cid -> {(section id, expiration)} asked for
        # The leader's clock for section expiration times (ns since the epoch); tests replace it.
        self.wall_clock_ns = time.time_ns
        self._now = now
        self.sync_rounds = 0
        # Replication payload version the whole view speaks (see ckpt_protocol): 1 until a
        # sync in which every member announced more. Decided alike on every member.
        self.wire_version = 1
        self.max_wire_version = REPLICATION_VERSION  # what we announce (tests lower it)
        # Features every member of the view announced (see "Mixed versions"); tests lower ours.
        self.announced_features = FEATURES
        self.features: frozenset = frozenset()
        # Quorum (see the module docstring): our node's votequorum facts as the daemon feeds
        # them (None: never fed, i.e. unit tests and old daemons: counted as quorate), the
        # facts of every member of the view, and the agreed outcome.
        self.local_quorum: dict | None = None
        self._member_quorum: dict = {}
        self.quorate = False  # agreed at the end of each sync and on each quorum message
        self.quorate_epoch = 0  # agreed: +1 for every sync or quorum message that makes the view quorate
        self._dropped: set = set()  # this round: checkpoints no member of the latest quorate lineage holds
        self._top_epoch = 0

    # -- queries (local reads) -------------------------------------------------------------

    @property
    def leader(self) -> Member | None:
        return tuple(self.view[0]) if self.view else None

    def lookup(self, name: str) -> Checkpoint | None:
        cid = self.names.get(name)
        return self.checkpoints.get(cid) if cid else None

    def status(self) -> dict:
        return {
            "synced": not self.syncing,
            "members": [list(m) for m in self.view],
            "leader": list(self.leader) if self.leader else None,
            "checkpoints": len(self.names),
            "sync_rounds": self.sync_rounds,
            "quorate": self.quorate,
            "quorate_epoch": self.quorate_epoch,
        }

    def listing(self) -> list:
        return [
            {
                "name": ckpt.name,
                "cid": ckpt.cid,
                "sections": len(ckpt.sections),
                "bytes": ckpt.used,
                "generation": ckpt.generation,
                "open_handles": len(ckpt.openers),
                "retention_duration": ckpt.retention_duration,
                "unlinked": ckpt.unlinked,
            }
            for ckpt in sorted(self.checkpoints.values(), key=lambda c: (c.name, c.cid))
        ]

    # -- configuration changes and sync ---------------------------------------------------

    def on_confchg(self, members: list, now: float) -> list:
        """A new view of the group; returns the messages to multicast (our digest)."""
        self._now = now
        new_view = _view_key(members)
        gone = {tuple(m) for m in self.view} - {tuple(m) for m in new_view}
        for ckpt in list(self.checkpoints.values()):
            before = len(ckpt.openers)
            ckpt.openers = {o for o in ckpt.openers if (o[0], o[1]) not in gone}
            if before and not ckpt.openers:
                self._last_handle_gone(ckpt, now)
        self.view = new_view
        self.syncing = True
        self.wire_version = 1  # a joiner may speak only version 1: until the digests tell
        self.sync_rounds += 1
        self._digests = {}
        self._done = set()
        self._member_quorum = {}
        return [self._digest()]

    def _digest(self) -> dict:
        ckpts = {}
        for cid, ckpt in self.checkpoints.items():
            mine = sorted(o[2] for o in ckpt.openers if (o[0], o[1]) == self.me)
            ckpts[cid] = [ckpt.name, ckpt.generation, ckpt.state_hash(), ckpt.unlinked, mine]
        digest = {"t": MSG_DIGEST, "view": self.view, "ckpts": ckpts, "repl": self.max_wire_version}
        digest["qepoch"] = self.quorate_epoch
        if self.local_quorum is not None:
            digest["quorum"] = dict(self.local_quorum)
        if self.announced_features:
            digest["features"] = sorted(self.announced_features)
        return digest

    def _plan(self) -> list:
        """Every digest is in: decide sources deterministically; return our state messages.

        Only the members with the highest quorate epoch (the latest quorate lineage) are
        sources; a checkpoint none of them holds is dropped by everyone at the end of the sync.
        """
        epochs = {member: int(digest.get("qepoch", 0)) for member, digest in self._digests.items()}
        top = max(epochs.values())
        holders: dict[str, list] = {}
        everyone: dict[str, int] = {}
        for member in sorted(self._digests):
            for cid, (_name, gen, chash, _unlinked, _mine) in self._digests[member]["ckpts"].items():
                everyone[cid] = everyone.get(cid, 0) + 1
                if epochs[member] == top:
                    holders.setdefault(cid, []).append((member, gen, chash))
        self._dropped = {cid for cid in everyone if cid not in holders}
        self._top_epoch = top
        out = []
        for cid in sorted(holders):
            entries = holders[cid]
            # Highest generation wins; ties to the lowest (nodeid, pid).
            source, gen, chash = sorted(entries, key=lambda e: (-e[1], e[0]))[0]
            # Complete: every member holds the same full state (state_hash: not only the content).
            complete = everyone[cid] == len(self.view) and all(
                (d["ckpts"][cid][1], d["ckpts"][cid][2]) == (gen, chash) for d in self._digests.values()
            )
            if not complete and source == self.me and cid in self.checkpoints:
                out.extend(self._state_messages(self.checkpoints[cid]))
        # Handles are rebuilt from what each member reports for its own clients.
        openers: dict[str, set] = {}
        for member, digest in self._digests.items():
            for cid, entry in digest["ckpts"].items():
                for hid in entry[4]:
                    openers.setdefault(cid, set()).add((member[0], member[1], int(hid)))
        self._pending_openers = openers
        out.append({"t": MSG_SYNC_DONE, "view": self.view})
        return out

    def _state_messages(self, ckpt: Checkpoint) -> list:
        """The whole checkpoint, in messages of at most STATE_CHUNK bytes of section data."""
        dump = ckpt.dump()
        sections, dump["sections"] = dump["sections"], []
        chunks: list = [[]]
        size = 0
        for entry in sections:
            if chunks[-1] and size + len(entry[1]) > STATE_CHUNK:
                chunks.append([])
                size = 0
            chunks[-1].append(entry)
            size += len(entry[1])
        out = [{"t": MSG_STATE, "view": self.view, "ckpt": dict(dump, sections=chunks[0])}]
        out.extend({"t": MSG_STATE_PART, "view": self.view, "cid": ckpt.cid, "sections": c} for c in chunks[1:])
        return out

    def _finish_sync(self, now: float) -> None:
        # A digest without "repl" comes from a daemon that speaks version 1 only.
        versions = [d.get("repl", 1) for d in self._digests.values()]
        ok = all(isinstance(v, int) and not isinstance(v, bool) for v in versions)
        self.wire_version = max(1, min([*versions, self.max_wire_version])) if versions and ok else 1
        features = set(self.announced_features)
        for digest in self._digests.values():
            theirs = digest.get("features")
            features &= set(theirs) if isinstance(theirs, list) and all(isinstance(f, str) for f in theirs) else set()
        self.features = frozenset(features)
        for cid in sorted(self._dropped):
            # Held only outside the latest quorate lineage: that lineage deleted it (or never
            # had it), and its state wins.
            self._delete(cid)
        for cid, ckpt in self.checkpoints.items():
            ckpt.openers = set(self._pending_openers.get(cid, set()))
        # Everyone now holds the lineage's state: adopt its epoch, one more if this view is quorate.
        self.quorate_epoch = self._top_epoch
        self.quorate = False
        self._update_quorate()
        # Keep only checkpoints that some source still holds. Between sides of equal quorate
        # epoch (neither was quorate since they parted) a deletion on one side is undone if the
        # other kept it: updates win over deletions.
        self._resolve_names()
        for cid, ckpt in list(self.checkpoints.items()):
            if not ckpt.openers:
                if ckpt.unlinked:
                    self._delete(cid)
                else:
                    # Conservative: every retention timer restarts at the end of a sync.
                    self._zero_since[cid] = now
                    self._expiry_sent.pop(cid, None)
            else:
                self._zero_since.pop(cid, None)
        self._section_expiry_sent = {}  # the leader asks again for what is still due
        self.syncing = False

    def _resolve_names(self) -> None:
        by_name: dict[str, list] = {}
        for cid, ckpt in self.checkpoints.items():
            if not ckpt.unlinked:
                by_name.setdefault(ckpt.name, []).append(cid)
        self.names = {}
        for name, cids in by_name.items():
            winner = min(cids, key=_cid_order)
            self.names[name] = winner
            for loser in cids:
                if loser != winner:
                    self.checkpoints[loser].unlinked = True

    def _deliver_sync(self, sender: Member, msg: dict, now: float) -> list:
        if msg.get("view") != self.view:
            return []  # from an earlier view: ignored by everyone alike
        kind = msg["t"]
        if kind == MSG_DIGEST and self.syncing:
            # Malformed facts are rejected here, by everyone alike.
            facts = _quorum_facts(msg["quorum"]) if "quorum" in msg else None
            if not isinstance(msg.get("qepoch", 0), int):
                raise ValueError(f"qepoch {msg.get('qepoch')!r}")
            self._member_quorum[sender] = facts
            self._digests[sender] = msg
            if len(self._digests) == len(self.view):
                return self._plan()
        elif kind == MSG_STATE and self.syncing:
            ckpt = Checkpoint.load(msg["ckpt"])
            self.checkpoints[ckpt.cid] = ckpt
        elif kind == MSG_STATE_PART and self.syncing and msg.get("cid") in self.checkpoints:
            ckpt = self.checkpoints[msg["cid"]]
            ckpt.sections.update((bytes(sid), bytes(data)) for sid, data in msg["sections"])
            ckpt._hash = None
            ckpt._used = None
        elif kind == MSG_SYNC_DONE and self.syncing:
            self._done.add(sender)
            if len(self._done) == len(self.view):
                self._finish_sync(now)
        return []

    # -- message delivery ----------------------------------------------------------------------

    def on_deliver(self, sender: Member, msg: dict, now: float) -> tuple[list, Result | None]:
        """Apply one message in agreed order. Returns (messages to multicast, result).

        The result is for operations (``t == "op"``): every member computes the same one; the
        sender's daemon answers its client with it.
        """
        self._now = now
        sender = (int(sender[0]), int(sender[1]))
        try:
            # Every field checked before anything changes (ckpt_messages): alike on every member.
            msg = check_message(sender, msg)
        except MalformedMessage as exc:
            if exc.token is None:
                raise
            return [], Result(AisError.INVALID_PARAM, str(exc), malformed=True)
        kind = msg.get("t")
        if isinstance(kind, str) and kind in SYNC_MESSAGES:  # a peer may send any type here
            try:
                return self._deliver_sync(sender, msg, now), None
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise MalformedMessage(f"malformed {kind} message from {sender}: {exc!r}") from exc
        if kind == MSG_QUORUM:
            try:
                self._deliver_quorum(sender, msg)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise MalformedMessage(f"malformed {kind} message from {sender}: {exc!r}") from exc
            return [], None
        if kind == MSG_EXPIRE:
            # Not during SYNC: our digest already announced the checkpoint, and a joiner may be
            # its only holder. Everyone ignores it alike; the leader asks again after the sync.
            # Nor in a partition without quorum: the quorate side decides what is deleted.
            if not self.syncing and self.quorate:
                self._expire(msg.get("cid"), msg.get("zero_epoch"))
            return [], None
        if kind == MSG_SECTION_EXPIRE:
            if not self.syncing:  # as MSG_EXPIRE: the leader asks again after the sync
                self._expire_section(msg.get("cid"), msg.get("section"), msg.get("expiration"))
            return [], None
        if kind != MSG_OP:
            return [], Result(AisError.MESSAGE_ERROR, f"unknown message type {kind!r}")
        if self.syncing:
            return [], Result(AisError.TRY_AGAIN, "the checkpoint service is synchronising after a membership change")
        op = msg.get("op")
        handler = self._OPS.get(op) if isinstance(op, str) else None
        if handler is None:
            return [], Result(AisError.BAD_OPERATION, f"unknown operation {op!r}")
        if not self.quorate and op not in _WITHOUT_QUORUM:
            return [], _not_quorate(op)
        try:
            return [], handler(self, sender, msg.get("args") or {}, now)
        except (KeyError, TypeError, ValueError) as exc:
            return [], Result(AisError.INVALID_PARAM, f"malformed arguments: {exc}")

    def tick(self, now: float, wall_ns: int | None = None) -> list:
        """Timers: the leader asks for the deletion of checkpoints whose retention ran out, and
        of sections whose expiration time (``wall_ns``, default its wall clock) has passed."""
        self._now = now
        if self.syncing or self.leader != self.me or not self.quorate:
            return []
        out = []
        if FEATURE_SA_CALLS in self.features:
            out = self._due_sections(self.wall_clock_ns() if wall_ns is None else wall_ns)
        for cid, since in sorted(self._zero_since.items()):
            ckpt = self.checkpoints.get(cid)
            if ckpt is None or ckpt.openers:
                continue
            retention_s = ckpt.retention_duration / 1e9
            if now - since >= retention_s and self._expiry_sent.get(cid) != ckpt.zero_epoch:
                self._expiry_sent[cid] = ckpt.zero_epoch
                out.append({"t": MSG_EXPIRE, "cid": cid, "zero_epoch": ckpt.zero_epoch})
        return out

    # -- operations (applied in agreed order on every member) ----------------------------------

    def _op_open(self, sender: Member, args: dict, now: float) -> Result:
        name, flags, hid = args["name"], int(args["flags"]), int(args["handle"])
        attrs = args.get("attrs")
        if flags & ~OPEN_FLAGS_ALL or not flags & 0x3:
            return Result(AisError.BAD_FLAGS, f"open flags {flags:#x}: use READ (1) and/or WRITE (2), CREATE (4)")
        if not isinstance(name, str) or not name:
            return Result(AisError.INVALID_PARAM, "checkpoint name must be a non-empty string")
        if len(name.encode()) > MAX_NAME_LENGTH:
            return Result(AisError.NAME_TOO_LONG, f"checkpoint names are limited to {MAX_NAME_LENGTH} bytes")
        creating = bool(flags & OPEN_CREATE)
        if creating != (attrs is not None):
            return Result(AisError.INVALID_PARAM, "creation attributes go with CREATE, and only with CREATE")
        if flags & OPEN_EXCLUSIVE and not creating:
            return Result(AisError.BAD_FLAGS, "EXCLUSIVE needs CREATE")
        norm = {}
        if creating:
            code, why, norm = validate_attributes(attrs)
            if code is not AisError.OK:
                return Result(code, why)
        ckpt = self.lookup(name)
        if ckpt is None:
            if not creating:
                return Result(AisError.NOT_EXIST, f"no checkpoint named {name!r}")
            if not self.quorate:
                return _not_quorate("create")
            cid = f"{sender[0]}.{sender[1]}.{hid}"
            ckpt = Checkpoint(cid=cid, name=name, attrs=norm)
            if norm["max_sections"] == 1 and FEATURE_SA_CALLS in self.features:
                ckpt.sections[DEFAULT_SECTION_ID] = b""  # the default section, from creation on
            self.checkpoints[cid] = ckpt
            self.names[name] = cid
            created = True
        else:
            if flags & OPEN_EXCLUSIVE:
                return Result(
                    AisError.EXIST,
                    f"checkpoint {name!r} exists (exclusive create); "
                    f"{len(ckpt.openers)} handle(s) still open, retention "
                    f"{ckpt.retention_duration / 1e9:g}s",
                )
            if creating and norm != ckpt.attrs:
                return Result(AisError.EXIST, f"checkpoint {name!r} exists with other creation attributes")
            created = False
        ckpt.openers.add((sender[0], sender[1], hid))
        self._zero_since.pop(ckpt.cid, None)
        return Result(AisError.OK, values={"cid": ckpt.cid, "created": created, "attrs": dict(ckpt.attrs)})

    def _op_close(self, sender: Member, args: dict, now: float) -> Result:
        ckpt = self.checkpoints.get(args["cid"])
        if ckpt is None:
            return Result(AisError.OK)  # already gone with its last handle: closing is idempotent
        key = (sender[0], sender[1], int(args["handle"]))
        if key in ckpt.openers:
            ckpt.openers.discard(key)
            if not ckpt.openers:
                self._last_handle_gone(ckpt, now)
        return Result(AisError.OK)

    def _op_unlink(self, sender: Member, args: dict, now: float) -> Result:
        ckpt = self.lookup(args["name"])
        if ckpt is None:
            return Result(AisError.NOT_EXIST, f"no checkpoint named {args['name']!r}")
        del self.names[ckpt.name]
        ckpt.unlinked = True
        if not ckpt.openers:
            self._delete(ckpt.cid)
        return Result(AisError.OK)

    def _writable(self, args: dict) -> tuple[Checkpoint | None, Result | None]:
        ckpt = self.checkpoints.get(args["cid"])
        if ckpt is None:
            return None, Result(AisError.BAD_HANDLE, "the checkpoint of this handle no longer exists")
        return ckpt, None

    def _op_section_create(self, sender: Member, args: dict, now: float) -> Result:
        ckpt, err = self._writable(args)
        if err:
            return err
        sid, data = bytes(args["section"]), bytes(args["data"])
        expiration = args.get("expiration", SA_TIME_END)
        if ckpt.attrs["max_sections"] == 1 and DEFAULT_SECTION_ID in ckpt.sections:
            # As openais: the default section is the one section such a checkpoint has.
            return Result(AisError.EXIST, "a checkpoint with max_sections 1 has only its default section")
        if not sid or len(sid) > ckpt.attrs["max_section_id_size"]:
            return Result(AisError.INVALID_PARAM, f"section id must be 1..{ckpt.attrs['max_section_id_size']} bytes")
        if not _sa_time(expiration):
            return Result(AisError.INVALID_PARAM, f"expiration time {expiration!r} is not an SaTimeT")
        if expiration != SA_TIME_END and FEATURE_SA_CALLS not in self.features:
            return _not_everywhere()
        if sid in ckpt.sections:
            return Result(AisError.EXIST, f"section {sid!r} exists")
        if len(ckpt.sections) >= ckpt.attrs["max_sections"]:
            return Result(AisError.NO_SPACE, f"checkpoint holds its maximum of {ckpt.attrs['max_sections']} sections")
        if len(data) > ckpt.attrs["max_section_size"]:
            # SA_AIS_ERR_INVALID_PARAM: initialDataSize larger than maxSectionSize (as openais).
            return Result(AisError.INVALID_PARAM, f"{len(data)} bytes exceed max_section_size")
        if ckpt.used + len(data) > ckpt.attrs["checkpoint_size"]:
            return Result(AisError.NO_SPACE, "checkpoint_size would be exceeded")
        ckpt.sections[sid] = data
        if expiration != SA_TIME_END:
            ckpt.expirations[sid] = expiration
        ckpt.touch(ckpt.used + len(data))
        return Result(AisError.OK)

    def _op_section_delete(self, sender: Member, args: dict, now: float) -> Result:
        ckpt, err = self._writable(args)
        if err:
            return err
        sid = bytes(args["section"])
        if sid == DEFAULT_SECTION_ID:
            return Result(AisError.INVALID_PARAM, "the default section cannot be deleted")
        if sid not in ckpt.sections:
            return Result(AisError.NOT_EXIST, f"no section {sid!r}")
        used = ckpt.used - len(ckpt.sections[sid])
        del ckpt.sections[sid]
        ckpt.expirations.pop(sid, None)
        ckpt.touch(used)
        return Result(AisError.OK)

    def _op_section_write(self, sender: Member, args: dict, now: float) -> Result:
        """saCkptCheckpointWrite: write ``data`` at ``offset`` inside an existing section."""
        ckpt, err = self._writable(args)
        if err:
            return err
        sid, data, offset = bytes(args["section"]), bytes(args["data"]), int(args.get("offset", 0))
        old = ckpt.sections.get(sid)
        if old is None:
            return Result(AisError.NOT_EXIST, f"no section {sid!r}")
        if offset < 0 or offset > len(old):
            return Result(AisError.INVALID_PARAM, f"offset {offset} is outside the section ({len(old)} bytes)")
        new = old[:offset] + data + old[offset + len(data) :]
        return self._replace(ckpt, sid, old, new)

    def _op_section_overwrite(self, sender: Member, args: dict, now: float) -> Result:
        ckpt, err = self._writable(args)
        if err:
            return err
        sid, data = bytes(args["section"]), bytes(args["data"])
        old = ckpt.sections.get(sid)
        if old is None:
            return Result(AisError.NOT_EXIST, f"no section {sid!r}")
        return self._replace(ckpt, sid, old, data)

    def _replace(self, ckpt: Checkpoint, sid: bytes, old: bytes, new: bytes) -> Result:
        if len(new) > ckpt.attrs["max_section_size"]:
            # SA_AIS_ERR_INVALID_PARAM, as openais answers overwrite and write beyond it.
            return Result(AisError.INVALID_PARAM, f"{len(new)} bytes exceed max_section_size")
        used = ckpt.used - len(old) + len(new)
        if used > ckpt.attrs["checkpoint_size"]:
            return Result(AisError.NO_SPACE, "checkpoint_size would be exceeded")
        ckpt.sections[sid] = new
        ckpt.touch(used)
        return Result(AisError.OK)

    def _op_section_expiration_set(self, sender: Member, args: dict, now: float) -> Result:
        """saCkptSectionExpirationTimeSet: an absolute time (ns), SA_TIME_END for never."""
        ckpt, err = self._writable(args)
        if err:
            return err
        sid, expiration = bytes(args["section"]), args["expiration"]
        if FEATURE_SA_CALLS not in self.features:
            return _not_everywhere()
        if not _sa_time(expiration):
            return Result(AisError.INVALID_PARAM, f"expiration time {expiration!r} is not an SaTimeT")
        if sid == DEFAULT_SECTION_ID:
            return Result(AisError.INVALID_PARAM, "the default section cannot expire")
        if sid not in ckpt.sections:
            return Result(AisError.NOT_EXIST, f"no section {sid!r}")
        if expiration == SA_TIME_END:
            ckpt.expirations.pop(sid, None)
        else:
            ckpt.expirations[sid] = expiration
        ckpt.touch(ckpt.used)
        return Result(AisError.OK)

    def _op_retention_duration_set(self, sender: Member, args: dict, now: float) -> Result:
        """saCkptCheckpointRetentionDurationSet: BAD_OPERATION once the checkpoint is unlinked."""
        ckpt, err = self._writable(args)
        if err:
            return err
        retention = args["retention"]
        if FEATURE_SA_CALLS not in self.features:
            return _not_everywhere()
        if not _sa_time(retention):
            return Result(AisError.INVALID_PARAM, f"retention duration {retention!r} is not an SaTimeT")
        if ckpt.unlinked:
            return Result(AisError.BAD_OPERATION, "the checkpoint is unlinked")
        ckpt.retention = retention
        ckpt.touch(ckpt.used)
        return Result(AisError.OK)

    # The operations this store applies, by the name on the wire (ckpt_protocol.REPLICATED_OPS).
    _OPS = {
        OP_OPEN: _op_open,
        OP_CLOSE: _op_close,
        OP_UNLINK: _op_unlink,
        OP_SECTION_CREATE: _op_section_create,
        OP_SECTION_DELETE: _op_section_delete,
        OP_SECTION_WRITE: _op_section_write,
        OP_SECTION_OVERWRITE: _op_section_overwrite,
        OP_SECTION_EXPIRATION_SET: _op_section_expiration_set,
        OP_RETENTION_DURATION_SET: _op_retention_duration_set,
    }

    # -- quorum ----------------------------------------------------------------------------------

    def set_quorum(self, quorate: bool, votes: int = 1, quorum: int = 0) -> list:
        """The daemon's reading of its node's votequorum state; returns the messages to multicast.

        The facts go into our next digest; a change between configuration changes is
        announced to the view in a quorum message, which every member applies in agreed order.
        """
        facts = _quorum_facts({"quorate": bool(quorate), "votes": int(votes), "quorum": int(quorum)})
        if facts == self.local_quorum:
            return []
        self.local_quorum = facts
        if not self.view:
            return []
        return [{"t": MSG_QUORUM, "view": self.view, "quorum": facts}]

    def _deliver_quorum(self, sender: Member, msg: dict) -> None:
        facts = _quorum_facts(msg["quorum"])
        if msg.get("view") != self.view or sender not in self._member_quorum:
            return  # from an earlier view: the digests of this one carry newer facts
        self._member_quorum[sender] = facts
        if not self.syncing:
            self._update_quorate()

    def _update_quorate(self) -> None:
        """The agreed rule, over facts every member holds alike (the digests, then quorum
        messages): quorate when every member that reports facts says quorate and the nodes of
        the view hold at least the highest quorum any of them reports. No facts at all (old
        daemons, unit tests): quorate, as before quorum was enforced."""
        known = [f for f in self._member_quorum.values() if f is not None]
        if not known:
            self.quorate = True  # but no quorate lineage: the epoch stays (merges as before)
            return
        votes: dict = {}
        for member, facts in self._member_quorum.items():
            votes[member[0]] = facts["votes"] if facts is not None else 1
        quorate = all(f["quorate"] for f in known) and sum(votes.values()) >= max(f["quorum"] for f in known)
        if quorate and not self.quorate:
            self.quorate_epoch += 1
        self.quorate = quorate

    # -- retention -------------------------------------------------------------------------------

    def _last_handle_gone(self, ckpt: Checkpoint, now: float) -> None:
        ckpt.zero_epoch += 1
        if ckpt.unlinked:
            self._delete(ckpt.cid)
            return
        self._zero_since[ckpt.cid] = now

    def _expire(self, cid: Any, zero_epoch: Any) -> None:
        ckpt = self.checkpoints.get(cid)
        if ckpt is not None and not ckpt.openers and ckpt.zero_epoch == zero_epoch:
            self._delete(cid)

    def _delete(self, cid: str) -> None:
        ckpt = self.checkpoints.pop(cid, None)
        if ckpt is not None and self.names.get(ckpt.name) == cid:
            del self.names[ckpt.name]
        self._zero_since.pop(cid, None)
        self._expiry_sent.pop(cid, None)
        self._section_expiry_sent.pop(cid, None)

    # -- section expiry ----------------------------------------------------------------------------

    def _due_sections(self, wall_ns: int) -> list:
        """The leader: an expiry message for each section whose expiration time has passed."""
        out = []
        for cid in sorted(self.checkpoints):
            ckpt = self.checkpoints[cid]
            if not ckpt.expirations:
                continue
            sent = self._section_expiry_sent.setdefault(cid, set())
            for sid, when in sorted(ckpt.expirations.items()):
                if when <= wall_ns and (sid, when) not in sent:
                    sent.add((sid, when))
                    out.append({"t": MSG_SECTION_EXPIRE, "cid": cid, "section": sid, "expiration": when})
        return out

    def _expire_section(self, cid: Any, sid: Any, expiration: Any) -> None:
        """Delete the section if it still has the expiration time the leader saw pass."""
        ckpt = self.checkpoints.get(cid) if isinstance(cid, str) else None
        if ckpt is None or not isinstance(sid, bytes) or not _sa_time(expiration):
            return
        self._section_expiry_sent.get(cid, set()).discard((sid, expiration))
        if ckpt.expirations.get(sid) != expiration or sid not in ckpt.sections:
            return  # given another expiration time, or deleted, before this was delivered
        used = ckpt.used - len(ckpt.sections[sid])
        del ckpt.sections[sid]
        del ckpt.expirations[sid]
        ckpt.touch(used)


def _not_everywhere() -> Result:
    return Result(AisError.NOT_SUPPORTED, "a member of the group runs a quorate-ckptd without this call; upgrade it")


def _sa_time(value: Any) -> bool:
    """An SaTimeT: an integer in 0..SA_TIME_END (nanoseconds)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= SA_TIME_END


# What a partition without quorum still applies: opening existing checkpoints (to read them)
# and closing handles. Everything else (creations, unlinks, section writes) answers TRY_AGAIN.
_WITHOUT_QUORUM = frozenset((OP_OPEN, OP_CLOSE))


def _not_quorate(what: str) -> Result:
    return Result(
        AisError.TRY_AGAIN,
        f"{NOT_QUORATE_DETAIL}: this partition of the cluster does not hold quorum; "
        f"{what} is refused until it merges with the quorate part (reads may be stale)",
    )


def _cid_order(cid: str) -> tuple:
    parts = cid.split(".")
    try:
        return tuple(int(p) for p in parts)
    except ValueError:
        return (float("inf"), cid)
