from __future__ import annotations

import pytest

from ansible_collections.quorate.cluster.plugins.module_utils.shared.ais_errors import (
    AisError,
    AisException,
    Case,
    Operation,
    classify,
    fix_hint,
)

# The SA Forum AIS specification's SaAisErrorT table.
SPEC_CODES = {
    "OK": 1, "LIBRARY": 2, "VERSION": 3, "INIT": 4, "TIMEOUT": 5, "TRY_AGAIN": 6, "INVALID_PARAM": 7,
    "NO_MEMORY": 8, "BAD_HANDLE": 9, "BUSY": 10, "ACCESS": 11, "NOT_EXIST": 12, "NAME_TOO_LONG": 13,
    "EXIST": 14, "NO_SPACE": 15, "INTERRUPT": 16, "NAME_NOT_FOUND": 17, "NO_RESOURCES": 18,
    "NOT_SUPPORTED": 19, "BAD_OPERATION": 20, "FAILED_OPERATION": 21, "MESSAGE_ERROR": 22,
    "QUEUE_FULL": 23, "QUEUE_NOT_AVAILABLE": 24, "BAD_FLAGS": 25, "TOO_BIG": 26, "NO_SECTIONS": 27,
    "SECURITY": 100,
}  # fmt: skip


def test_every_spec_code_by_number_and_name():
    assert {e.name: e.value for e in AisError} == SPEC_CODES


def test_sa_names_use_the_ais_specification_spelling():
    assert AisError.TRY_AGAIN.sa_name == "SA_AIS_ERR_TRY_AGAIN"
    assert AisError.OK.sa_name == "SA_AIS_OK"


def test_unknown_code_maps_to_library_so_the_client_reconnects():
    assert AisError.from_code(4242) is AisError.LIBRARY
    assert classify(4242).case is Case.RECONNECT


@pytest.mark.parametrize(
    "code, operation, case",
    [
        pytest.param(AisError.TRY_AGAIN, Operation.OPEN_READ, Case.TRY_AGAIN, id="try-again-read"),
        pytest.param(AisError.TRY_AGAIN, Operation.OPEN_CREATE, Case.TRY_AGAIN, id="try-again-create"),
        pytest.param(AisError.TRY_AGAIN, Operation.CALL, Case.TRY_AGAIN, id="try-again-call"),
        pytest.param(AisError.TIMEOUT, Operation.CALL, Case.TRY_AGAIN, id="timeout"),
        pytest.param(AisError.BUSY, Operation.CALL, Case.TRY_AGAIN, id="busy"),
        pytest.param(AisError.NOT_EXIST, Operation.OPEN_READ, Case.NOT_EXIST_READ, id="not-exist-read"),
        pytest.param(AisError.EXIST, Operation.OPEN_CREATE, Case.EXIST_CREATE, id="exist-create"),
        pytest.param(AisError.LIBRARY, Operation.CALL, Case.RECONNECT, id="library"),
        pytest.param(AisError.BAD_HANDLE, Operation.OPEN_READ, Case.RECONNECT, id="bad-handle"),
    ],
)
def test_transient_cases(code, operation, case):
    verdict = classify(code, operation)
    assert verdict.transient
    assert verdict.case is case


@pytest.mark.parametrize(
    "code, operation",
    [
        pytest.param(AisError.NOT_EXIST, Operation.OPEN_CREATE, id="not-exist-on-create"),
        pytest.param(AisError.NOT_EXIST, Operation.CALL, id="not-exist-section"),
        pytest.param(AisError.EXIST, Operation.OPEN_READ, id="exist-on-read"),
        pytest.param(AisError.EXIST, Operation.CALL, id="exist-section-create"),
        pytest.param(AisError.INVALID_PARAM, Operation.OPEN_CREATE, id="invalid-param"),
        pytest.param(AisError.ACCESS, Operation.CALL, id="access"),
        pytest.param(AisError.NAME_TOO_LONG, Operation.OPEN_READ, id="name-too-long"),
        pytest.param(AisError.NO_SPACE, Operation.CALL, id="no-space"),
        pytest.param(AisError.BAD_FLAGS, Operation.OPEN_CREATE, id="bad-flags"),
        pytest.param(AisError.TOO_BIG, Operation.CALL, id="too-big"),
        pytest.param(AisError.VERSION, Operation.CALL, id="version"),
    ],
)
def test_fatal_errors(code, operation):
    verdict = classify(code, operation)
    assert not verdict.transient
    assert verdict.case is None


def test_reconnect_hint_names_the_services():
    assert "quorate-ckptd" in fix_hint(AisError.LIBRARY)
    assert "corosync-quorumtool" in fix_hint(AisError.TRY_AGAIN)


def test_every_fatal_code_has_its_own_hint():
    generic = fix_hint(AisError.TRY_AGAIN)
    for err in AisError:
        if err is AisError.OK or classify(err, Operation.CALL).transient:
            continue
        hint = fix_hint(err)
        assert hint and hint != generic, err


def test_exception_carries_code_and_operation():
    exc = AisException(14, "checkpoint exists", Operation.OPEN_CREATE)
    assert exc.code is AisError.EXIST
    assert str(exc) == "SA_AIS_ERR_EXIST: checkpoint exists"
    assert exc.verdict.case is Case.EXIST_CREATE


def test_a_not_quorate_try_again_is_its_own_case():
    refused = AisException(AisError.TRY_AGAIN, "not quorate: this partition of the cluster does not hold quorum")
    assert refused.verdict.transient and refused.verdict.case is Case.NOT_QUORATE
    # Any other TRY_AGAIN stays the membership case; the detail alone tells them apart.
    assert AisException(AisError.TRY_AGAIN, "membership change: synchronising").verdict.case is Case.TRY_AGAIN
    assert classify(AisError.TRY_AGAIN).case is Case.TRY_AGAIN
