# Copyright: quorate.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The retry policy and client: how long to keep trying, how often, and what happened.

"How many times should a call be retried?" has no good answer as a count
(docs/design.md#why-a-fixed-retry-fails). The answer here is a deadline: every library call
is rejected with TRY_AGAIN while membership changes, and a hard node failure stalls delivery
for the runtime token plus the runtime consensus timeout (measured: 8.0 s at token 3000 on
3 nodes, 23.4 s at token 10000; docs/design.md#measured-timing). So the deadline is derived
from the live totem timing (read from cmap, which already includes the per-node token
coefficient), with a safety factor and a margin, and never below the caller's
floor. The poll interval does not grow with the token: it starts near 10 ms and is capped at
80 ms, with full jitter, so a barrier notices success quickly without hammering the service.

Stdlib only: this file is also installed on the nodes for the checkpoint daemons.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from .ais_errors import NOT_QUORATE_HINT, AisError, AisException, Case, Operation, fix_hint


class ServiceUnavailable(Exception):
    """The local service (corosync, the checkpoint daemon) is not running or not reachable."""


class ServiceTimeout(ServiceUnavailable):
    """The local service (or the tool that asks it) did not answer within the time left: retried
    like an unavailable service, counted as ``TIMEOUT`` (case ``try_again``) and named in the
    message when the deadline passes."""


@dataclass(frozen=True)
class TotemTiming:
    """The totem timeouts that bound a configuration change, in milliseconds."""

    token_ms: int
    consensus_ms: int
    join_ms: int = 50
    source: str = "cmap"

    @property
    def window_s(self) -> float:
        """One whole membership-change window: token loss detection plus consensus."""
        return (self.token_ms + self.consensus_ms) / 1000.0


# corosync's own defaults (token 3000, consensus 1.2 x token); used only until the live values
# can be read, and reported as "assumed" so nobody mistakes them for measurements.
ASSUMED_TIMING = TotemTiming(token_ms=3000, consensus_ms=3600, join_ms=50, source="assumed")


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real monotonic clock; tests inject a fake one."""

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


@dataclass(frozen=True)
class RetryPolicy:
    """How long and how often to retry. Times in seconds."""

    safety_factor: float = 1.1
    margin: float = 0.5
    min_timeout: float = 0.0
    timeout: float | None = None
    initial_sleep: float = 0.010
    # Below 100 ms: reaction = the last sleep + one probe, and the probe is slower on a busy node.
    max_sleep: float = 0.080
    min_sleep: float = 0.001
    multiplier: float = 2.0

    def __post_init__(self) -> None:
        checks = (
            ("safety_factor", self.safety_factor >= 1.0, "must be at least 1.0"),
            ("margin", self.margin >= 0, "must not be negative"),
            ("min_timeout", self.min_timeout >= 0, "must not be negative"),
            ("timeout", self.timeout is None or self.timeout > 0, "must be greater than 0"),
            ("initial_sleep", self.initial_sleep > 0, "must be greater than 0"),
            ("max_sleep", self.max_sleep >= self.initial_sleep, "must be at least initial_sleep"),
            ("min_sleep", 0 <= self.min_sleep <= self.initial_sleep, "must be between 0 and initial_sleep"),
            ("multiplier", self.multiplier >= 1.0, "must be at least 1.0"),
        )
        for name, ok, why in checks:
            if not ok:
                raise ValueError(f"retry policy: {name}={getattr(self, name)!r} {why}")

    def deadline_for(self, timing: TotemTiming) -> float:
        """Seconds to keep trying: an absolute timeout wins; otherwise one membership-change
        window with the safety factor and margin, raised to the caller's floor."""
        if self.timeout is not None:
            return self.timeout
        return max(self.min_timeout, timing.window_s * self.safety_factor + self.margin)

    def sleep_ceiling(self, attempt: int) -> float:
        """Upper bound of the pause after failed attempt number ``attempt`` (1-based)."""
        exponent = max(0, attempt - 1)
        # Cap the exponent: the ceiling saturates long before 2**64 anyway.
        return min(self.max_sleep, self.initial_sleep * self.multiplier ** min(exponent, 64))

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Full jitter: uniform between a small floor and the ceiling, so concurrent nodes
        spread out instead of retrying in lock-step; the floor keeps the load bounded."""
        return rng.uniform(self.min_sleep, self.sleep_ceiling(attempt))


@dataclass
class RetryReport:
    """What a retried call or wait went through; returned by the modules as-is."""

    attempts: int = 0
    elapsed: float = 0.0
    deadline: float = 0.0
    errors: Counter = field(default_factory=Counter)
    cases: Counter = field(default_factory=Counter)
    timing: TotemTiming = ASSUMED_TIMING
    corosync_wait: float = 0.0

    @property
    def case(self) -> str:
        """The transient case that stood in the way most often ("none" if none did)."""
        if not self.cases:
            return "none"
        # Counter.most_common keeps first-seen order among equal counts.
        return self.cases.most_common(1)[0][0]

    def as_dict(self) -> dict[str, Any]:
        return {
            "attempts": self.attempts,
            "elapsed": round(self.elapsed, 4),
            "deadline": round(self.deadline, 4),
            "errors": dict(self.errors),
            "cases": dict(self.cases),
            "case": self.case,
            "token_ms": self.timing.token_ms,
            "consensus_ms": self.timing.consensus_ms,
            "timing_source": self.timing.source,
            "corosync_wait": round(self.corosync_wait, 4),
        }


# The keys of the retry report every module that waits returns, on success and on failure alike
# (documented once, in the quorate.cluster.retry_report doc fragment).
RETURNED_REPORT_KEYS = ("attempts", "elapsed", "deadline", "errors", "case", "cases", "token_ms", "timing_source")


def returned_report(report: RetryReport | dict) -> dict[str, Any]:
    """The retry report as the modules return it: a :class:`RetryReport`, or a dict with at least
    :data:`RETURNED_REPORT_KEYS` (an entry of ``ckpt_barrier.wait_each``, its ``summary``)."""
    values = report.as_dict() if isinstance(report, RetryReport) else report
    return {key: values[key] for key in RETURNED_REPORT_KEYS}


class RetryFailed(Exception):
    """A retried call gave up: a fatal error (at once) or the deadline passed."""

    def __init__(self, message: str, report: RetryReport, error: AisError | None = None, fatal: bool = False):
        super().__init__(message)
        self.report = report
        self.error = error
        self.fatal = fatal
        # For waits: the last state the condition saw, so the caller can say what was missing.
        self.state: Any = None
        self.expected: Any = None


# The error-count key for "the local corosync is not running": not an SA code, but it is what
# the client saw, and the operator needs to tell it apart from a sync window.
COROSYNC_NOT_RUNNING = "COROSYNC_NOT_RUNNING"
# The error-count key for a :class:`ServiceTimeout` (the SA name of a call that timed out).
TIMEOUT = AisError.TIMEOUT.sa_name


class RetryClient:
    """Runs calls and waits under a :class:`RetryPolicy`.

    ``timing_source`` returns the live :class:`TotemTiming` or raises
    :class:`ServiceUnavailable` while corosync is not running; the client then waits for it
    (within the caller's timeout) instead of crashing, and derives the deadline once it can.
    """

    def __init__(
        self,
        policy: RetryPolicy,
        timing_source: Callable[[], TotemTiming] | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
    ):
        self.policy = policy
        self.timing_source = timing_source
        self.clock = clock or SystemClock()
        self.rng = rng or random.Random()
        self._started: float | None = None
        self._report: RetryReport | None = None

    def time_left(self) -> float | None:
        """Seconds left before the deadline of the current (or the last) call or wait; None before
        the first. Tools and clients bound each of their calls by it, so that none outlives the
        deadline (a provisional one, from the assumed timing, while the live timing is read)."""
        if self._started is None or self._report is None:
            return None
        return self._report.deadline - (self.clock.monotonic() - self._started)

    # -- public entry points ------------------------------------------------------------

    def call(
        self,
        fn: Callable[[], Any],
        operation: Operation = Operation.CALL,
        reconnect: Callable[[], None] | None = None,
        what: str = "call",
    ) -> tuple[Any, RetryReport]:
        """Call ``fn`` until it returns, a fatal error occurs, or the deadline passes.

        ``fn`` raises :class:`AisException` for SA errors (classified with ``operation``
        unless the exception names a more specific one) and :class:`ServiceUnavailable` when the local
        service is down. ``reconnect`` runs before the retry that follows LIBRARY/BAD_HANDLE.
        """

        def attempt(report: RetryReport) -> tuple[bool, Any]:
            try:
                return True, fn()
            except AisException as exc:
                # The call's own operation is the default; an exception that knows better
                # (e.g. a read-only open inside a create sequence) keeps its own.
                if exc.operation is Operation.CALL:
                    exc.operation = operation
                verdict = exc.verdict
                report.errors[exc.code.sa_name] += 1
                if not verdict.transient:
                    raise RetryFailed(
                        f"{what} failed with {exc.code.sa_name} (fatal, not retried): {fix_hint(exc.code)}"
                        + (f" [{exc.detail}]" if exc.detail else ""),
                        report,
                        exc.code,
                        fatal=True,
                    ) from exc
                report.cases[verdict.case.value] += 1
                self._last_error, self._last_detail = exc.code, exc.detail
                self._last_case = verdict.case
                if verdict.reconnect and reconnect is not None:
                    self._reconnect(reconnect, report)
                return False, None

        return self._run(attempt, what)

    def wait_for(self, check: Callable[[], tuple[bool, Any]], what: str = "condition") -> tuple[Any, RetryReport]:
        """Poll ``check`` until it returns ``(True, state)``; returns the last state.

        On timeout :class:`RetryFailed` carries the last state in ``.state`` so the caller
        can say what was missing.
        """

        def attempt(report: RetryReport) -> tuple[bool, Any]:
            done, state = check()
            self._last_state = state
            if not done:
                report.cases[Case.TRY_AGAIN.value] += 1
            return done, state

        return self._run(attempt, what)

    # -- the loop -----------------------------------------------------------------------

    def _reconnect(self, reconnect: Callable[[], None], report: RetryReport) -> None:
        try:
            reconnect()
        except AisException as exc:
            report.errors[exc.code.sa_name] += 1
        except ServiceUnavailable:
            report.errors[COROSYNC_NOT_RUNNING] += 1

    def _read_timing(self) -> TotemTiming | None:
        if self.timing_source is None:
            return ASSUMED_TIMING
        try:
            return self.timing_source()
        except ServiceTimeout as exc:
            self._last_timeout = str(exc)
            return None
        except ServiceUnavailable:
            self._last_timeout = None
            return None

    def _run(self, attempt: Callable[[RetryReport], tuple[bool, Any]], what: str) -> tuple[Any, RetryReport]:
        self._last_error: AisError | None = None
        self._last_detail = ""
        self._last_case: Case | None = None
        self._last_state: Any = None
        self._last_timeout: str | None = None  # the message of the last ServiceTimeout, if it was last
        clock, policy = self.clock, self.policy
        start = clock.monotonic()
        report = RetryReport()
        # Provisional, for the first timing read itself (see time_left).
        report.deadline = policy.deadline_for(ASSUMED_TIMING)
        self._started, self._report = start, report
        timing = self._read_timing()
        # Until corosync answers, the deadline rests on its default timing (or the caller's
        # absolute timeout); it is recomputed from the live values once they can be read.
        report.timing = timing or ASSUMED_TIMING
        report.deadline = policy.deadline_for(report.timing)
        corosync_down_since = None if timing is not None else start

        while True:
            now = clock.monotonic()
            if timing is None:
                timing = self._read_timing()
                if timing is not None:
                    report.timing = timing
                    report.corosync_wait = now - start
                    report.deadline = max(report.deadline, (now - start) + policy.deadline_for(timing))
                    if policy.timeout is not None:
                        report.deadline = policy.timeout
                    corosync_down_since = None
            report.attempts += 1
            if timing is None and self._last_timeout is not None:
                # The timing read itself did not answer in time: a wedged tool, not a stopped corosync.
                report.errors[TIMEOUT] += 1
                report.cases[Case.TRY_AGAIN.value] += 1
                done, value = False, None
            elif timing is None:
                # corosync is not running yet: nothing else can succeed; count it and wait.
                report.errors[COROSYNC_NOT_RUNNING] += 1
                report.cases[Case.RECONNECT.value] += 1
                done, value = False, None
            else:
                try:
                    done, value = attempt(report)
                    self._last_timeout = None
                except ServiceTimeout as exc:
                    report.errors[TIMEOUT] += 1
                    report.cases[Case.TRY_AGAIN.value] += 1
                    self._last_timeout = str(exc)
                    done, value = False, None
                except ServiceUnavailable:
                    report.errors[COROSYNC_NOT_RUNNING] += 1
                    report.cases[Case.RECONNECT.value] += 1
                    self._last_timeout = None
                    done, value = False, None
                except RetryFailed as failed:
                    failed.report.elapsed = clock.monotonic() - start
                    raise
            now = clock.monotonic()
            report.elapsed = now - start
            if done:
                return value, report
            remaining = report.deadline - report.elapsed
            # A microsecond of slack: float rounding must not leave a sleep too short to
            # move the clock.
            if remaining <= 1e-6:
                if corosync_down_since is not None:
                    report.corosync_wait = report.elapsed
                raise self._timeout(what, report)
            clock.sleep(min(policy.backoff(report.attempts, self.rng), remaining))

    def _timeout(self, what: str, report: RetryReport) -> RetryFailed:
        if self._last_timeout is not None:
            reason = f"{self._last_timeout} (case {Case.TRY_AGAIN.value})"
        elif report.errors.get(COROSYNC_NOT_RUNNING) and report.timing.source == "assumed":
            reason = "corosync is not running on this node (start it, or check `systemctl status corosync`)"
        elif self._last_error is not None and self._last_case is Case.NOT_QUORATE:
            # Membership settled, but on the wrong side: say so, not "did not settle".
            reason = f"not quorate: last error {self._last_error.sa_name} (case not_quorate): {NOT_QUORATE_HINT}"
        elif self._last_error is not None:
            reason = f"last error {self._last_error.sa_name} (case {report.case}): {fix_hint(self._last_error)}" + (
                f" [{self._last_detail}]" if self._last_detail else ""
            )
        else:
            reason = "the condition did not hold"
        failed = RetryFailed(
            f"{what} did not succeed within {report.deadline:.2f}s after {report.attempts} attempts; {reason}",
            report,
            self._last_error,
        )
        failed.state = self._last_state
        return failed
