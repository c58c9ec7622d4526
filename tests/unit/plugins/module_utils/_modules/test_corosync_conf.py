from __future__ import annotations

import pytest

from ansible_collections.quorate.cluster.plugins.module_utils._modules.corosync_conf import (
    ConfError,
    classify_change,
    device_settings,
    effective_token,
    is_managed,
    parse,
    quorum_section,
    quorum_votes,
    render,
)

NODES = [
    {"nodeid": 2, "name": "n2", "addrs": ["10.0.0.2", "10.1.0.2"]},
    {"nodeid": 1, "name": "n1", "addrs": ["10.0.0.1", "10.1.0.1"]},
]
N3 = {"nodeid": 3, "name": "n3", "addrs": ["10.0.0.3", "10.1.0.3"]}
TOTEM = {"token": 3000, "token_coefficient": 650, "consensus": None, "crypto_cipher": "aes256"}


def conf(**overrides) -> str:
    args = {
        "cluster_name": "quorate",
        "totem": TOTEM,
        "nodes": NODES,
        "quorum": {"provider": "corosync_votequorum", "two_node": True},
        "logging": {"to_syslog": True, "timestamp": "on"},
        "keyfile": "/etc/corosync/authkey",
    }
    args.update(overrides)
    return render(**args)


def test_render_is_strict_corosync_syntax_and_deterministic():
    text = conf()
    assert text == conf(nodes=list(reversed(NODES)))
    for line in text.splitlines():
        stripped = line.strip()
        assert stripped == "}" or stripped.endswith("{") or ": " in stripped or stripped.startswith("#")
    parsed = parse(text)
    assert parsed["totem"]["token"] == "3000"
    assert "consensus" not in parsed["totem"]  # null -> corosync's default
    assert [n["nodeid"] for n in parsed["nodelist"]["node"]] == ["1", "2"]
    assert parsed["nodelist"]["node"][0]["ring1_addr"] == "10.1.0.1"
    assert parsed["quorum"]["two_node"] == "1"
    assert parsed["logging"]["to_syslog"] == "yes"


def test_values_that_would_break_the_file_are_refused():
    with pytest.raises(ConfError):
        conf(cluster_name="a}b")


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("totem {\n", id="unclosed"),
        pytest.param("}\n", id="extra-close"),
        pytest.param("totem {\nnonsense\n}\n", id="bare-word"),
    ],
)
def test_parse_errors(text):
    with pytest.raises(ConfError):
        parse(text)


@pytest.mark.parametrize(
    "change, reloadable, restart",
    [
        pytest.param({"totem": dict(TOTEM, token=10000)}, ["totem.token"], [], id="token-live"),
        pytest.param({"totem": dict(TOTEM, consensus=20000)}, ["totem.consensus"], [], id="consensus-live"),
        pytest.param({"logging": {"to_syslog": False}}, ["logging"], [], id="logging-live"),
        pytest.param({"totem": dict(TOTEM, crypto_cipher="aes128")}, ["totem.crypto_cipher"], [], id="crypto-live"),
        pytest.param({"cluster_name": "other"}, [], ["totem.cluster_name"], id="name-restart"),
        pytest.param({"nodes": NODES[:1]}, ["nodelist (removes n1 (id 1))"], [], id="nodelist-remove-live"),
        pytest.param(
            {"nodes": [dict(NODES[0], addrs=["10.0.0.9", "10.1.0.2"])]}, [], ["nodelist"], id="remove-and-readdress"
        ),
        pytest.param({"nodes": []}, [], ["nodelist"], id="nodelist-emptied-restart"),
        pytest.param({"nodes": [*NODES, N3]}, ["nodelist (adds n3 (id 3))"], [], id="nodelist-add-live"),
        pytest.param(
            {"nodes": [*NODES, N3, dict(N3, nodeid=4, name="n4", addrs=["10.0.0.4", "10.1.0.4"])]},
            ["nodelist (adds n3 (id 3), n4 (id 4))"],
            [],
            id="nodelist-add-two-live",
        ),
        pytest.param({"nodes": [NODES[0], N3]}, [], ["nodelist"], id="nodelist-add-and-remove-restart"),
        pytest.param(
            {"nodes": [dict(NODES[0], addrs=["10.0.0.9", "10.1.0.2"]), NODES[1], N3]},
            [],
            ["nodelist"],
            id="nodelist-add-and-readdress-restart",
        ),
        pytest.param(
            {"nodes": [*NODES, N3], "quorum": {"provider": "corosync_votequorum"}},
            ["nodelist (adds n3 (id 3))", "quorum.two_node"],
            [],
            id="nodelist-add-with-two-node-live",
        ),
        pytest.param({"quorum": {"provider": "corosync_votequorum"}}, ["quorum.two_node"], [], id="two-node-live"),
        pytest.param(
            {"quorum": {"provider": "corosync_votequorum", "two_node": True, "expected_votes": 3}},
            ["quorum.expected_votes"],
            [],
            id="expected-votes-live",
        ),
        pytest.param(
            {"quorum": {"provider": "corosync_votequorum", "two_node": True, "wait_for_all": False}},
            [],
            ["quorum"],
            id="wait-for-all-restart",
        ),
    ],
)
def test_classify_change(change, reloadable, restart):
    result = classify_change(conf(), conf(**change))
    assert result == {"changed": True, "reloadable": reloadable, "restart": restart, "qdevice_restart": []}


def test_no_change_and_new_file():
    assert classify_change(conf(), conf())["changed"] is False
    assert classify_change(None, conf())["restart"] == ["(new file)"]
    assert classify_change("garbage {", conf())["restart"] == ["(unparsable old file)"]


@pytest.mark.parametrize(
    "token, nodes, runtime",
    [
        pytest.param(3000, 2, 3000, id="two-nodes"),
        pytest.param(3000, 3, 3650, id="three-nodes-measured"),
        pytest.param(10000, 3, 10650, id="cman-token-measured"),
        pytest.param(10000, 5, 11950, id="five-nodes"),
    ],
)
def test_effective_token(token, nodes, runtime):
    assert effective_token(token, 650, nodes) == runtime


def test_what_the_role_writes_is_recognised_as_its_own_and_nothing_else_is():
    assert is_managed(conf())
    assert not is_managed("# Please read the corosync.conf.5 manual page\ntotem {\n")
    assert not is_managed("")
    assert not is_managed("totem {\n# Managed by the quorate.cluster.corosync role: local edits are overwritten.\n")


QUORUM = {"provider": "corosync_votequorum"}


def test_two_nodes_get_two_node_unless_the_user_set_it():
    assert quorum_section({"provider": "corosync_votequorum"}, 2) == {
        "provider": "corosync_votequorum",
        "two_node": True,
    }
    assert quorum_section({"two_node": False}, 2) == {"two_node": False}
    assert quorum_section({"provider": "corosync_votequorum"}, 3) == {"provider": "corosync_votequorum"}
    assert quorum_section({}, 1) == {}


@pytest.mark.parametrize(
    "expected, two_node, needed",
    [(1, False, 1), (2, False, 2), (2, True, 1), (3, False, 2), (4, False, 3), (5, False, 3), (3, True, 2)],
)
def test_quorum_votes(expected, two_node, needed):
    assert quorum_votes(expected, two_node) == needed


DEVICE = {"model": "net", "votes": 1, "net": {"host": "10.89.93.13", "algorithm": "ffsplit"}}
WITH_DEVICE = {"provider": "corosync_votequorum", "device": DEVICE}


def test_device_renders_as_nested_sections_that_parse_back():
    text = conf(quorum=WITH_DEVICE)
    quorum = text[text.index("quorum {") : text.index("logging {")]
    assert quorum.splitlines() == [
        "quorum {",
        "    provider: corosync_votequorum",
        "    device {",
        "        model: net",
        "        votes: 1",
        "        net {",
        "            algorithm: ffsplit",
        "            host: 10.89.93.13",
        "        }",
        "    }",
        "}",
    ]
    assert parse(text)["quorum"]["device"] == {
        "model": "net",
        "votes": "1",
        "net": {"algorithm": "ffsplit", "host": "10.89.93.13"},
    }


@pytest.mark.parametrize(
    "quorum, two_node",
    [
        pytest.param({"provider": "corosync_votequorum"}, True, id="two-nodes-get-two-node"),
        pytest.param(WITH_DEVICE, None, id="device-instead-of-two-node"),
        pytest.param({"two_node": False}, False, id="user-choice-kept"),
    ],
)
def test_quorum_section_adds_two_node_only_without_a_device(quorum, two_node):
    assert quorum_section(quorum, 2).get("two_node") == two_node
    assert device_settings(WITH_DEVICE) == DEVICE
    assert device_settings({"device": {}}) is None


@pytest.mark.parametrize(
    "before, after, reloadable, qdevice",
    [
        pytest.param(
            WITH_DEVICE,
            {
                "provider": "corosync_votequorum",
                "device": {"model": "net", "net": {"host": "10.89.93.13", "algorithm": "lms"}},
            },
            ["quorum.device.net.algorithm", "quorum.device.votes"],
            ["quorum.device.net.algorithm", "quorum.device.votes"],
            id="algorithm-live-for-corosync-restart-for-qdevice",
        ),
        pytest.param(
            {"provider": "corosync_votequorum", "two_node": True},
            WITH_DEVICE,
            [
                "quorum.device.model",
                "quorum.device.net.algorithm",
                "quorum.device.net.host",
                "quorum.device.votes",
                "quorum.two_node",
            ],
            ["quorum.device.model", "quorum.device.net.algorithm", "quorum.device.net.host", "quorum.device.votes"],
            id="two-node-to-device",
        ),
    ],
)
def test_device_change_is_a_reload_for_corosync_and_a_restart_for_qdevice(before, after, reloadable, qdevice):
    result = classify_change(conf(quorum=before), conf(quorum=after))
    assert result == {"changed": True, "reloadable": reloadable, "restart": [], "qdevice_restart": qdevice}


def test_device_beside_a_restart_only_quorum_change():
    after = dict(WITH_DEVICE, wait_for_all=True, device=dict(DEVICE, votes=2))
    result = classify_change(conf(quorum=WITH_DEVICE), conf(quorum=after))
    assert result["restart"] == ["quorum"] and result["qdevice_restart"] == ["quorum.device.votes"]
