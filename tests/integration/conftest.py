"""pytest fixtures for real corosync clusters in network namespaces.

* ``netns_cluster``          module-scoped, 3 nodes, started and quorate.
                             Tests that stop nodes should call ``heal()`` at
                             the end (or use the factory) so later tests in the
                             module still get a full cluster.
* ``netns_cluster_factory``  function-scoped; ``make(nodes=3, **kw)`` returns a
                             created but NOT started NetnsCluster.

Without prerequisites (root, ip, corosync, netns support) these fixtures skip,
unless QUORATE_REQUIRE_CLUSTER=1 (CI), where that is a failure.
Set QUORATE_KEEP_WORKDIR=1 to keep configs and corosync logs after the run.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from harness.netns_cluster import REQUIRE_ENV, NetnsCluster, cluster_required, netns_available

_HERE = Path(__file__).resolve().parent

_QUORATE_TIMEOUT_S = 60.0


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "integration: needs root and runs real corosync nodes in network namespaces")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Everything below tests/integration is an integration test, marked or not,
    # so "-m 'not integration'" reliably gives the fast unit suite.
    for item in items:
        if _HERE == Path(item.path).resolve().parent or _HERE in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.integration)


@functools.cache
def _availability() -> tuple[bool, str]:
    return netns_available()


def require_netns() -> None:
    """Skip (or, with QUORATE_REQUIRE_CLUSTER=1, fail) when a cluster cannot run here."""
    ok, reason = _availability()
    if ok:
        return
    if cluster_required():
        pytest.fail(f"{REQUIRE_ENV} is set but no netns corosync cluster is possible: {reason}", pytrace=False)
    pytest.skip(f"netns corosync cluster unavailable: {reason}")


def _keep_workdir() -> bool:
    return os.environ.get("QUORATE_KEEP_WORKDIR", "") not in ("", "0")


@pytest.fixture(scope="module")
def netns_cluster() -> Iterator[NetnsCluster]:
    require_netns()
    cluster = NetnsCluster(nodes=3, keep_workdir=_keep_workdir())
    try:
        cluster.create()
        cluster.start_all()
        cluster.wait_quorate(timeout=_QUORATE_TIMEOUT_S)
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def netns_cluster_factory() -> Iterator[Callable[..., NetnsCluster]]:
    require_netns()
    made: list[NetnsCluster] = []

    def make(nodes: int = 3, **kwargs: Any) -> NetnsCluster:
        kwargs.setdefault("keep_workdir", _keep_workdir())
        cluster = NetnsCluster(nodes=nodes, **kwargs)
        made.append(cluster)  # before create(): a failing create() is torn down too
        return cluster.create()

    make.clusters = made  # type: ignore[attr-defined]  # read by the report hook below
    yield make
    errors = []
    for cluster in reversed(made):
        try:
            cluster.destroy()
        except Exception as exc:
            errors.append(str(exc))
    if errors:
        pytest.fail("netns cluster teardown: " + "; ".join(errors), pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    # The workdir (and with it the logs) is gone after teardown, so put the
    # corosync log tails into the failure report while they still exist.
    report = yield
    if report.when != "call" or not report.failed:
        return report
    clusters: list[NetnsCluster] = []
    for value in getattr(item, "funcargs", {}).values():
        if isinstance(value, NetnsCluster):
            clusters.append(value)
        clusters.extend(getattr(value, "clusters", []))
    for cluster in clusters:
        for node in cluster.node_ids:
            report.sections.append(
                (f"corosync {cluster.prefix}/{cluster.node_name(node)} log tail", cluster.log_tail(node, 40))
            )
    return report
