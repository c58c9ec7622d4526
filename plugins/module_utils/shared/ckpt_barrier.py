# Copyright: quorate.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The checkpoint barrier: wait until checkpoints open on this node (and their sections exist).

One attempt is :func:`probe` (open, read the sections, close); :func:`wait_each` runs it under the
:class:`~.retry_policy.RetryClient` for each checkpoint in turn. The ``ckpt_wait`` module, the
benchmarks and the race scenario's harness all wait through this code.

Stdlib only: used by the modules and on the nodes.
"""

from __future__ import annotations

from collections import Counter

from .ais_errors import AisError, AisException, Operation
from .ckpt_attributes import validate_attributes
from .ckpt_client import CheckpointClient
from .ckpt_protocol import OPEN_CREATE, OPEN_READ, OPEN_WRITE
from .retry_policy import RETURNED_REPORT_KEYS, RetryClient, RetryFailed, returned_report

__all__ = ["RETURNED_REPORT_KEYS", "WaitFailed", "probe", "returned_report", "summary", "wait_each"]


def probe(
    client: CheckpointClient,
    name: str,
    mode: str,
    attrs: dict | None,
    sections: list,
    check_mode: bool = False,
    made: dict | None = None,
) -> dict:
    """One attempt: open, read the sections, close; returns the sections. Raises AisException.

    ``made["created"]`` becomes true once an attempt created the
    checkpoint (a later attempt, after a TRY_AGAIN on a section read, finds it existing). In
    ``check_mode`` a create opens read-only and creates nothing: a checkpoint that does not
    exist yet is one this call would create (its sections are not waited for); one with other
    creation attributes answers EXIST, as the real open would."""
    made = {"created": False} if made is None else made
    operation = Operation.OPEN_CREATE if mode == "create" else Operation.OPEN_READ
    create_attrs = dict(attrs, creation_flags=0) if mode == "create" else None
    if mode == "create" and not check_mode:
        opened = client.open_info(name, OPEN_READ | OPEN_WRITE | OPEN_CREATE, create_attrs)
        made["created"] = made["created"] or bool(opened.get("created"))
    else:
        if create_attrs is not None:
            code, why, wanted = validate_attributes(create_attrs)
            if code is not AisError.OK:
                raise AisException(code, why, operation)
        try:
            opened = client.open_info(name, OPEN_READ)
        except AisException as exc:
            if create_attrs is not None and exc.code is AisError.NOT_EXIST:
                made["created"] = True
                return {}
            raise
        if create_attrs is not None and opened.get("attrs") not in (None, wanted):
            client.close(opened["handle"])
            raise AisException(AisError.EXIST, f"checkpoint {name!r} exists with other creation attributes", operation)
    handle = opened["handle"]
    try:
        values = {}
        for section in sections:
            try:
                values[section] = client.section_read(handle, section.encode())
            except AisException as exc:
                if exc.code is AisError.NOT_EXIST:
                    # Visible but not written yet: the writer is between its open and its write.
                    raise AisException(AisError.NOT_EXIST, f"section {section!r} not written yet", operation) from exc
                raise
        return {key: value.rstrip(b"\0").decode("utf-8", "backslashreplace") for key, value in values.items()}
    finally:
        try:
            client.close(handle)
        except AisException:
            pass  # the service closes it with the connection anyway


class WaitFailed(Exception):
    """A checkpoint's wait failed; ``results`` holds every checkpoint's entry so far, the failed one last."""

    def __init__(self, failed: RetryFailed, results: list[dict]):
        super().__init__(str(failed))
        self.failed = failed
        self.results = results


def wait_each(retry: RetryClient, client: CheckpointClient, checkpoints: list[dict], check_mode: bool) -> list[dict]:
    """Wait for each checkpoint in turn, each under its own deadline, over one connection.

    Returns one entry per checkpoint (its name, ``status``, ``created``, sections and retry report);
    raises :class:`WaitFailed` at the first that fails, the ones after it untried."""
    results = []
    for checkpoint in checkpoints:
        name, mode = checkpoint["name"], checkpoint["mode"]
        made = {"created": False}
        try:
            values, report = retry.call(
                lambda n=name, m=mode, c=checkpoint, d=made: probe(
                    client, n, m, c["creation_attributes"], c["sections"], check_mode, d
                ),
                Operation.OPEN_CREATE if mode == "create" else Operation.OPEN_READ,
                reconnect=client.reconnect,
                what=f"open of checkpoint {name!r}",
            )
        except RetryFailed as failed:
            entry = {"name": name, "status": "failed", **returned_report(failed.report)}
            entry.update(error=failed.error.sa_name if failed.error else None, msg=str(failed))
            raise WaitFailed(failed, results + [entry]) from failed
        entry = {"name": name, "status": "ok", "created": made["created"], "sections": values}
        results.append(dict(entry, **returned_report(report)))
    return results


def summary(results: list[dict]) -> dict:
    """The top-level report of several waits: counts and times added up, the timing of the last."""
    errors, cases = Counter(), Counter()
    for entry in results:
        errors.update(entry["errors"])
        cases.update(entry["cases"])
    return {
        "attempts": sum(entry["attempts"] for entry in results),
        "elapsed": round(sum(entry["elapsed"] for entry in results), 4),
        "deadline": round(sum(entry["deadline"] for entry in results), 4),
        "errors": dict(errors),
        # As RetryReport.case: the most frequent, first seen among equals.
        "case": cases.most_common(1)[0][0] if cases else "none",
        "cases": dict(cases),
        "token_ms": results[-1]["token_ms"],
        "timing_source": results[-1]["timing_source"],
    }
