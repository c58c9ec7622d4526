"""Test harness shared by the unit tests, the integration tests and the benchmarks.

One importable package (``harness``; tests/conftest.py puts ``tests/`` on sys.path, bench/
does the same) instead of test files importing each other through sys.path:

* ``sim_cpg``: the simulated CPG group (``SimGroup``) and the one-member ``LoopbackCpg``.
* ``netns_cluster``: real corosync nodes in network namespaces (``NetnsCluster``).
* ``node_daemons``: quorate-ckptd / quorate-controld processes inside those nodes.
* ``ansible_in_node``: run one of the collection's modules inside a node.
* ``cpg_probe``: a script run inside a node (by path) that drives the CPG binding.
* ``ckpt_fixtures``: the members, flags and attributes the store's simulated-CPG tests share.
* ``ckptd_thread``: a CheckpointDaemon in a thread of the test process (start, wait synced, stop).
* ``processes``: stopping a helper process driven over stdin (close it, wait, kill by PID).
"""
