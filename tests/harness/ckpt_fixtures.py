"""What the checkpoint store's unit tests over the simulated CPG share: members, flags, attributes.

Each test module imports what it uses; where a module wants other attributes it derives them
from ``ATTRS`` explicitly (``dict(ATTRS, retention_duration=...)``) so the difference shows.
"""

from __future__ import annotations

from ansible_collections.quorate.cluster.plugins.module_utils.shared.ckpt_protocol import (
    OPEN_CREATE,
    OPEN_READ,
    OPEN_WRITE,
)
from harness.sim_cpg import SimGroup

A, B, C = (1, 101), (2, 202), (3, 303)  # (nodeid, pid) of three daemons
RW_CREATE = OPEN_READ | OPEN_WRITE | OPEN_CREATE
ATTRS = {
    "creation_flags": 0,
    "checkpoint_size": 4096,
    "retention_duration": 2_000_000_000,  # 2 s
    "max_sections": 4,
    "max_section_size": 1024,
    "max_section_id_size": 32,
}


def cluster(*members, expected_votes: int = 0) -> SimGroup:
    """A group the members joined in order, every event delivered; see ``SimGroup.expected_votes``."""
    group = SimGroup(expected_votes=expected_votes)
    for member in members:
        group.add(member)
    group.run()
    return group
