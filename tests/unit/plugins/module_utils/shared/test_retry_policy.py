from __future__ import annotations

import random

import pytest

from ansible_collections.quorate.cluster.plugins.module_utils.shared.ais_errors import (
    AisError,
    AisException,
    Operation,
)
from ansible_collections.quorate.cluster.plugins.module_utils.shared.retry_policy import (
    ASSUMED_TIMING,
    COROSYNC_NOT_RUNNING,
    RetryClient,
    RetryFailed,
    RetryPolicy,
    ServiceTimeout,
    ServiceUnavailable,
    TotemTiming,
)

# Live values read from corosync 3.1.7 with token 3000 on 3 nodes (cmap fixture) and token 10000.
THREE_NODES_3000 = TotemTiming(token_ms=3650, consensus_ms=4380)
THREE_NODES_10000 = TotemTiming(token_ms=10650, consensus_ms=12780)


class Script:
    """A callable that raises the scripted errors in turn, then returns ``value``."""

    def __init__(self, errors, value="opened", clock=None, cost=0.0, forever=None):
        self.errors = list(errors)
        self.forever = forever
        self.value = value
        self.calls = 0
        self.clock, self.cost = clock, cost

    def __call__(self):
        self.calls += 1
        if self.clock is not None:
            self.clock.advance(self.cost)
        if self.errors or self.forever is not None:
            err = self.errors.pop(0) if self.errors else self.forever
            if isinstance(err, Exception):
                raise err
            raise AisException(err)
        return self.value


def client(clock, policy=None, timing=THREE_NODES_3000, seed=7):
    source = (lambda: timing) if not callable(timing) else timing
    return RetryClient(policy or RetryPolicy(), timing_source=source, clock=clock, rng=random.Random(seed))


# -- the deadline ------------------------------------------------------------------------


def test_deadline_covers_token_plus_consensus_with_margin():
    policy = RetryPolicy()
    # (3650 + 4380) ms = 8.03 s window; x1.1 + 0.5 s.
    assert policy.deadline_for(THREE_NODES_3000) == pytest.approx(8.03 * 1.1 + 0.5)
    assert policy.deadline_for(THREE_NODES_3000) > THREE_NODES_3000.window_s
    assert policy.deadline_for(THREE_NODES_10000) == pytest.approx(23.43 * 1.1 + 0.5)


def test_deadline_is_never_one_token_only():
    # 'One token period' is too short: a hard failure stalls for token + consensus (docs/design.md#measured-timing).
    assert RetryPolicy().deadline_for(THREE_NODES_3000) > THREE_NODES_3000.token_ms / 1000 * 2


def test_caller_floor_raises_the_deadline_but_does_not_lower_it():
    assert RetryPolicy(min_timeout=60).deadline_for(THREE_NODES_3000) == 60
    assert RetryPolicy(min_timeout=1).deadline_for(THREE_NODES_3000) == pytest.approx(9.333)


def test_absolute_timeout_wins_both_ways():
    assert RetryPolicy(timeout=2.5, min_timeout=60).deadline_for(THREE_NODES_10000) == 2.5
    assert RetryPolicy(timeout=300).deadline_for(THREE_NODES_3000) == 300


@pytest.mark.parametrize(
    "field, value",
    [
        pytest.param("timeout", 0, id="timeout-zero"),
        pytest.param("timeout", -1, id="timeout-negative"),
        pytest.param("min_timeout", -1, id="floor-negative"),
        pytest.param("safety_factor", 0.5, id="factor-below-one"),
        pytest.param("max_sleep", 0.001, id="cap-below-initial"),
        pytest.param("initial_sleep", 0, id="initial-zero"),
    ],
)
def test_bad_policy_values_name_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        RetryPolicy(**{field: value})


# -- backoff -------------------------------------------------------------------------------


def test_sleep_ceiling_starts_near_10ms_and_is_capped_at_100ms():
    policy = RetryPolicy()
    ceilings = [policy.sleep_ceiling(n) for n in range(1, 12)]
    assert ceilings[0] == pytest.approx(0.010)
    assert ceilings[1] == pytest.approx(0.020)
    assert max(ceilings) == pytest.approx(0.080)
    assert ceilings == sorted(ceilings)
    assert policy.sleep_ceiling(10_000) == pytest.approx(0.080)


def test_full_jitter_stays_within_bounds_and_spreads():
    policy = RetryPolicy()
    rng = random.Random(1)
    for attempt in (1, 2, 3, 4, 5, 50):
        draws = [policy.backoff(attempt, rng) for _draw in range(2000)]
        assert min(draws) >= policy.min_sleep
        assert max(draws) <= policy.sleep_ceiling(attempt)
        # Full jitter: the draws cover the range, they are not clustered at the ceiling.
        span = policy.sleep_ceiling(attempt) - policy.min_sleep
        assert min(draws) < policy.min_sleep + 0.1 * span
        assert max(draws) > policy.min_sleep + 0.9 * span


def test_poll_interval_does_not_grow_with_the_token(fake_clock):
    outcome = []
    for timing in (THREE_NODES_3000, THREE_NODES_10000):
        clock = type(fake_clock)()
        fn = Script([AisError.TRY_AGAIN] * 200)
        client(clock, timing=timing).call(fn)
        outcome.append(max(clock.sleeps))
    assert all(s <= 0.080 for s in outcome)


def test_success_is_noticed_within_the_cap(fake_clock):
    """Whatever moment the service becomes ready, the next attempt comes ≤ 80 ms later."""
    ready_at = fake_clock.now + 3.21

    def open_when_ready():
        if fake_clock.now < ready_at:
            raise AisException(AisError.TRY_AGAIN)
        return "ok"

    _value, report = client(fake_clock).call(open_when_ready)
    assert 0 <= fake_clock.now - ready_at <= 0.080
    assert report.errors["SA_AIS_ERR_TRY_AGAIN"] == report.attempts - 1


# -- each case -----------------------------------------------------------------------------


def test_first_attempt_success_reports_no_case(fake_clock):
    value, report = client(fake_clock).call(Script([]))
    assert value == "opened"
    assert report.attempts == 1
    assert report.case == "none"
    assert report.as_dict()["errors"] == {}
    assert report.timing.source == "cmap"
    assert report.as_dict()["token_ms"] == 3650


@pytest.mark.parametrize(
    "errors, operation, case",
    [
        pytest.param([AisError.TRY_AGAIN] * 3, Operation.OPEN_READ, "try_again", id="try_again"),
        pytest.param([AisError.NOT_EXIST] * 4, Operation.OPEN_READ, "not_exist_read", id="not_exist_read"),
        pytest.param([AisError.EXIST] * 2, Operation.OPEN_CREATE, "exist_create", id="exist_create"),
        pytest.param([AisError.LIBRARY, AisError.BAD_HANDLE], Operation.OPEN_READ, "reconnect", id="reconnect"),
    ],
)
def test_each_transient_case_is_retried_and_reported(fake_clock, errors, operation, case):
    fn = Script(errors)
    value, report = client(fake_clock).call(fn, operation=operation)
    assert value == "opened"
    assert report.attempts == len(errors) + 1
    assert report.case == case
    assert sum(report.errors.values()) == len(errors)
    assert report.elapsed == pytest.approx(sum(fake_clock.sleeps))


def test_mixed_cases_report_the_dominant_one_and_all_counts(fake_clock):
    fn = Script([AisError.TRY_AGAIN, AisError.NOT_EXIST, AisError.NOT_EXIST, AisError.TRY_AGAIN, AisError.NOT_EXIST])
    _value, report = client(fake_clock).call(fn, operation=Operation.OPEN_READ)
    assert report.case == "not_exist_read"
    assert report.as_dict()["cases"] == {"try_again": 2, "not_exist_read": 3}
    assert report.as_dict()["errors"] == {"SA_AIS_ERR_TRY_AGAIN": 2, "SA_AIS_ERR_NOT_EXIST": 3}


@pytest.mark.parametrize(
    "code, operation",
    [
        pytest.param(AisError.INVALID_PARAM, Operation.OPEN_CREATE, id="invalid-param"),
        pytest.param(AisError.NAME_TOO_LONG, Operation.OPEN_READ, id="name-too-long"),
        pytest.param(AisError.NOT_EXIST, Operation.OPEN_CREATE, id="not-exist-on-create"),
        pytest.param(AisError.EXIST, Operation.OPEN_READ, id="exist-on-read"),
        pytest.param(AisError.NO_SPACE, Operation.CALL, id="no-space"),
        pytest.param(AisError.ACCESS, Operation.CALL, id="access"),
    ],
)
def test_fatal_errors_are_raised_at_once(fake_clock, code, operation):
    fn = Script([AisError.TRY_AGAIN, code, AisError.TRY_AGAIN])
    with pytest.raises(RetryFailed) as info:
        client(fake_clock).call(fn, operation=operation, what="open of global")
    assert fn.calls == 2  # the TRY_AGAIN before, then the fatal one; never a third call
    failed = info.value
    assert failed.fatal
    assert failed.error is code
    assert code.sa_name in str(failed)
    assert "not retried" in str(failed)
    assert failed.report.attempts == 2
    assert failed.report.elapsed < 0.2


def test_reconnect_runs_before_the_retry_on_library_and_bad_handle(fake_clock):
    events = []

    def fn():
        events.append("call")
        if len(events) < 4:
            raise AisException(AisError.LIBRARY if len(events) == 1 else AisError.BAD_HANDLE)
        return "ok"

    def reconnect():
        events.append("reconnect")

    client(fake_clock).call(fn, reconnect=reconnect)
    assert events == ["call", "reconnect", "call", "reconnect", "call"]


def test_try_again_does_not_reconnect(fake_clock):
    reconnects = []
    client(fake_clock).call(Script([AisError.TRY_AGAIN] * 3), reconnect=lambda: reconnects.append(1))
    assert reconnects == []


def test_reconnect_failure_is_counted_not_raised(fake_clock):
    def reconnect():
        raise ServiceUnavailable("socket missing")

    _value, report = client(fake_clock).call(Script([AisError.LIBRARY, AisError.LIBRARY]), reconnect=reconnect)
    assert report.errors[COROSYNC_NOT_RUNNING] == 2
    assert report.errors["SA_AIS_ERR_LIBRARY"] == 2


# -- deadlines and timeouts ----------------------------------------------------------------


def test_transient_errors_until_the_deadline_fail_within_it(fake_clock):
    fn = Script([], forever=AisError.TRY_AGAIN, clock=fake_clock, cost=0.002)
    with pytest.raises(RetryFailed) as info:
        client(fake_clock).call(fn, operation=Operation.OPEN_READ, what="open")
    report = info.value.report
    assert not info.value.fatal
    assert report.deadline == pytest.approx(9.333)
    # Bounded: never more than one call's cost past the deadline, and no sleep past it.
    assert report.deadline <= report.elapsed <= report.deadline + 0.002 + 1e-9
    assert "SA_AIS_ERR_TRY_AGAIN" in str(info.value)
    assert "case try_again" in str(info.value)
    # 9.3 s at ≤80 ms per poll: the load is bounded (roughly 120–250 attempts, not thousands).
    assert 80 <= report.attempts <= 400


def test_absolute_timeout_bounds_the_wait(fake_clock):
    fn = Script([], forever=AisError.NOT_EXIST)
    with pytest.raises(RetryFailed) as info:
        client(fake_clock, RetryPolicy(timeout=1.5)).call(fn, operation=Operation.OPEN_READ)
    assert info.value.report.elapsed == pytest.approx(1.5)
    assert info.value.report.case == "not_exist_read"


def test_the_window_grows_with_the_live_token(fake_clock):
    long = []
    for timing in (THREE_NODES_3000, THREE_NODES_10000):
        clock = type(fake_clock)()
        with pytest.raises(RetryFailed) as info:
            client(clock, timing=timing).call(Script([], forever=AisError.TRY_AGAIN))
        long.append(info.value.report.elapsed)
    assert long[0] == pytest.approx(9.333)
    assert long[1] == pytest.approx(26.273)


# -- corosync not running ------------------------------------------------------------------


def test_waits_for_corosync_then_derives_the_deadline_from_live_values(fake_clock):
    up_at = fake_clock.now + 2.0

    def timing():
        if fake_clock.now < up_at:
            raise ServiceUnavailable("Cannot initialize CMAP service")
        return THREE_NODES_10000

    fn = Script([AisError.TRY_AGAIN] * 5)
    value, report = client(fake_clock, timing=timing).call(fn)
    assert value == "opened"
    assert report.timing == THREE_NODES_10000
    assert report.corosync_wait == pytest.approx(2.0, abs=0.11)
    assert report.errors[COROSYNC_NOT_RUNNING] >= 10
    # Deadline measured from the moment corosync answered, with the live (long) window.
    assert report.deadline >= 2.0 + RetryPolicy().deadline_for(THREE_NODES_10000) - 1e-6
    assert fn.calls == 6  # the service call itself never ran while corosync was down


def test_corosync_never_up_fails_within_the_callers_timeout_and_says_so(fake_clock):
    def timing():
        raise ServiceUnavailable("Cannot initialize CMAP service")

    with pytest.raises(RetryFailed) as info:
        client(fake_clock, RetryPolicy(timeout=4), timing=timing).call(Script([]))
    assert "corosync is not running" in str(info.value)
    assert info.value.report.elapsed == pytest.approx(4)
    assert info.value.report.timing is ASSUMED_TIMING
    assert info.value.report.corosync_wait == pytest.approx(4)


def test_corosync_never_up_without_timeout_uses_the_default_timing(fake_clock):
    def timing():
        raise ServiceUnavailable("down")

    with pytest.raises(RetryFailed) as info:
        client(fake_clock, timing=timing).call(Script([]))
    assert info.value.report.elapsed == pytest.approx(RetryPolicy().deadline_for(ASSUMED_TIMING))


def test_corosync_dying_mid_call_is_a_reconnect_case(fake_clock):
    fn = Script([ServiceUnavailable("gone"), ServiceUnavailable("gone")])
    _value, report = client(fake_clock).call(fn)
    assert report.case == "reconnect"
    assert report.errors[COROSYNC_NOT_RUNNING] == 2


# -- waits ---------------------------------------------------------------------------------


def test_wait_for_returns_the_state_that_satisfied_it(fake_clock):
    states = iter([(False, "a"), (False, "b"), (True, "c")])
    state, report = client(fake_clock).wait_for(lambda: next(states))
    assert state == "c"
    assert report.attempts == 3


def test_wait_for_timeout_carries_the_last_state(fake_clock):
    with pytest.raises(RetryFailed) as info:
        client(fake_clock, RetryPolicy(timeout=0.5)).wait_for(lambda: (False, {"members": [1, 2]}), what="membership")
    assert info.value.state == {"members": [1, 2]}
    assert "membership did not succeed within 0.50s" in str(info.value)


# -- time left, and calls that time out ----------------------------------------------------------


def test_time_left_follows_the_deadline_of_the_current_call(fake_clock):
    retry = client(fake_clock, RetryPolicy(timeout=2.0))
    assert retry.time_left() is None  # no call yet: no bound
    seen = []

    def fn():
        seen.append(retry.time_left())
        fake_clock.advance(0.5)
        return "ok"

    retry.call(fn)
    assert seen == [pytest.approx(2.0)]
    assert retry.time_left() == pytest.approx(1.5)  # after the call: what is left of its deadline


def test_time_left_bounds_the_first_timing_read_by_the_assumed_timing(fake_clock):
    seen = []

    def timing():
        seen.append(retry.time_left())
        return THREE_NODES_10000

    retry = client(fake_clock, timing=timing)
    retry.call(lambda: "ok")
    assert seen[0] == pytest.approx(RetryPolicy().deadline_for(ASSUMED_TIMING))


def test_a_call_that_keeps_timing_out_is_reported_as_timeout_with_its_message(fake_clock):
    retry = client(fake_clock, RetryPolicy(timeout=1.0))
    hang = Script(
        [], forever=ServiceTimeout("corosync-quorumtool did not answer within 0.40s"), clock=fake_clock, cost=0.4
    )
    with pytest.raises(RetryFailed) as failed:
        retry.call(hang, what="corosync membership")
    report = failed.value.report
    assert report.errors["SA_AIS_ERR_TIMEOUT"] == hang.calls and report.case == "try_again"
    assert "corosync-quorumtool did not answer within 0.40s (case try_again)" in str(failed.value)
    assert COROSYNC_NOT_RUNNING not in report.errors


def test_a_timing_read_that_times_out_is_not_reported_as_corosync_stopped(fake_clock):
    def timing():
        fake_clock.advance(0.3)
        raise ServiceTimeout("corosync-cmapctl did not answer within 0.30s")

    retry = client(fake_clock, RetryPolicy(timeout=1.0), timing=timing)
    with pytest.raises(RetryFailed) as failed:
        retry.call(lambda: "never")
    assert "corosync-cmapctl did not answer" in str(failed.value)
    assert "corosync is not running" not in str(failed.value)
    assert failed.value.report.errors["SA_AIS_ERR_TIMEOUT"] >= 1


def test_a_partition_without_quorum_retries_then_fails_saying_not_quorate(fake_clock):
    """TRY_AGAIN while membership settles, then "not quorate" once the node stays in a minority."""
    refusal = AisException(AisError.TRY_AGAIN, "not quorate: this partition of the cluster does not hold quorum")
    fn = Script([AisError.TRY_AGAIN] * 3, forever=refusal, clock=fake_clock, cost=0.002)
    with pytest.raises(RetryFailed) as info:
        client(fake_clock).call(fn, what="section write")
    report = info.value.report
    assert not info.value.fatal
    assert report.case == "not_quorate" and report.cases["try_again"] == 3
    assert "not quorate" in str(info.value) and "case not_quorate" in str(info.value)
    assert "corosync-quorumtool -s" in str(info.value)


def test_not_quorate_that_clears_is_a_success(fake_clock):
    refusal = AisException(AisError.TRY_AGAIN, "not quorate: this partition of the cluster does not hold quorum")
    value, report = client(fake_clock).call(Script([refusal, refusal]))
    assert value == "opened" and report.cases == {"not_quorate": 2}
