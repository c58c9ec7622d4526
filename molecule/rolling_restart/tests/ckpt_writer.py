"""Node side of the ``rolling_restart`` scenario: keep writing sections while the stack restarts.

Run on a node as ``python3 -u - PREFIX < ckpt_writer.py`` with PYTHONPATH pointing at the node
programs (the ``quorate_node`` zip). Writes section ``PREFIX<i>`` of the shared checkpoint, one
after another, and prints ``{"ack": i}`` only once the service acknowledged write ``i``: those are
the writes the rolling restart must not lose. When this node's checkpoint service goes away the
writer reconnects and retries the same write (``section_put``: a retried create overwrites).
Stops when its stdin closes and prints ``{"done": ..., "errors": {...}}``.
"""

from __future__ import annotations

import json
import select
import sys
import time
from collections import Counter

from quorate_node.shared.ais_errors import AisException
from quorate_node.shared.ckpt_client import CheckpointClient

CHECKPOINT = "quorate:rolltest"
ATTRS = {
    "creation_flags": 0,
    "checkpoint_size": 8 * 1024 * 1024,
    "retention_duration": int(3600 * 1e9),  # outlives every writer's close: the data must stay
    "max_sections": 60000,
    "max_section_size": 128,
    "max_section_id_size": 32,
}
PAUSE = 0.02  # ~50 writes/s per node: a steady load, not a flood


def payload(prefix: str, index: int) -> bytes:
    return f"{prefix}{index}:written-through-a-rolling-restart".encode()


def stdin_closed() -> bool:
    readable, _w, _x = select.select([sys.stdin], [], [], 0)
    return bool(readable) and not sys.stdin.readline()


def main() -> int:
    prefix = sys.argv[1]
    client = CheckpointClient()
    handle = None
    errors: Counter = Counter()
    index = 0
    while not stdin_closed():
        try:
            if handle is None:
                handle = client.create(CHECKPOINT, ATTRS)
            client.section_put(handle, f"{prefix}{index:06d}", payload(prefix, index))
        except AisException as exc:
            errors[exc.code.name] += 1
            client.close_connection()  # a handle does not outlive its connection
            handle = None
            time.sleep(0.1)
            continue
        print(json.dumps({"ack": index}), flush=True)
        index += 1
        time.sleep(PAUSE)
    print(json.dumps({"done": index, "errors": dict(errors)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
