# SPDX-License-Identifier: MIT
"""kbus-bridge on the host: its configuration file, the name <-> topic
mapping and the metadata of its publications (docs/bridge.md).  The bridge
itself runs in the rig: tests/guest/test_bridge.py, tests/test_bridge_boxes.py."""

from __future__ import annotations

from pathlib import Path

import pytest
import tomllib
from kbus_bridge import config, names, protocol
from kbus_bridge.protocol import Meta, Topics

REPO = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG = REPO / "package" / "kbus-bridge" / "kbus-bridge.toml"


def parse(text: str) -> config.Config:
    return config.parse(tomllib.loads(text))


def test_the_default_file_bridges_nothing_and_is_not_enabled() -> None:
    cfg = config.load(str(DEFAULT_CONFIG))
    assert not cfg.enabled
    assert cfg.export == [] and cfg.imports == []
    assert cfg.broker.url == "mqtt://localhost:1883" and not cfg.broker.tls


def test_mqtts_with_ca_client_certificate_user_and_password_file(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("s3cret\n")
    cfg = parse(
        f"""
        enabled = true
        node = "bedroom"
        import = ["$.STB.*"]
        [broker]
        url = "mqtts://gateway.lan"
        ca_file = "/etc/ssl/certs/home-ca.pem"
        cert_file = "/etc/kbus-bridge.crt"
        key_file = "/etc/kbus-bridge.key"
        username = "bedroom"
        password_file = "{secret}"
        """
    )
    b = cfg.broker
    assert (b.tls, b.host, b.port) == (True, "gateway.lan", 8883)
    assert (b.ca_file, b.cert_file, b.key_file) == (
        "/etc/ssl/certs/home-ca.pem",
        "/etc/kbus-bridge.crt",
        "/etc/kbus-bridge.key",
    )
    assert b.username == "bedroom" and config.password(cfg) == "s3cret"
    assert cfg.client_id == "kbus-bridge-bedroom"
    assert cfg.network_id == config.default_network_id("bedroom") != 0


def test_mqtt_with_a_port_and_an_inline_password() -> None:
    cfg = parse(
        'node = "gw"\n[broker]\nurl = "mqtt://10.0.0.1:1884"\nusername = "u"\npassword = "p"\n'
    )
    assert (cfg.broker.tls, cfg.broker.host, cfg.broker.port) == (False, "10.0.0.1", 1884)
    assert config.password(cfg) == "p"


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ('node = "a"\nexports = []', "unknown key"),
        ('node = "a"\n[broker]\nurl = "http://x"', "mqtt://"),
        ('node = "a"\n[broker]\nurl = "mqtt://u:p@x"', "username/password"),
        ('node = "a"\n[broker]\nca_file = "/ca.pem"', "mqtts://"),
        ('node = "a"\n[broker]\nurl = "mqtts://x"\nkey_file = "/k"', "cert_file"),
        ('node = "a"\n[broker]\npassword = "p"\npassword_file = "/f"', "not both"),
        ('node = "a"\n[broker]\nprefix = "kbus/#"', "prefix"),
        ('node = "a b"', "node"),
        ('enabled = true\nnode = ""', "node"),
        ('node = "a"\nexport = ["$.KBUS.*"]', "not bridged"),
        ('node = "a"\nimport = ["$.Bridge.Event.*"]', "not bridged"),
        ('node = "a"\nimport = ["STB.*"]', "import"),
        ('node = "a"\n[limits]\nkbus_queue = 10', "kbus_queue"),
        ('node = "a"\n[limits]\nreceive_maximum = 70000', "65535"),
    ],
)
def test_bad_configurations_are_refused(text: str, complaint: str) -> None:
    with pytest.raises(config.ConfigError, match=complaint):
        parse(text)


@pytest.mark.parametrize(
    ("name", "topic"),
    [
        ("$.STB.Decoder.Play", "$/STB/Decoder/Play"),
        ("$.A", "$/A"),
        ("$.caf\xe9.X1", "$/caf\xe9/X1"),
    ],
)
def test_names_map_to_topic_levels_and_back(name: str, topic: str) -> None:
    assert names.name_to_topic(name) == topic
    assert names.topic_to_name(topic) == name


@pytest.mark.parametrize(
    ("pattern", "topic_filter", "inside", "outside"),
    [
        ("$.STB.*", "$/STB/#", "$.STB.Decoder.Play", "$.STBX.A"),
        ("$.STB.%", "$/STB/+", "$.STB.Decoder", "$.STB.Decoder.Play"),
        ("$.STB.Decoder.Play", "$/STB/Decoder/Play", "$.STB.Decoder.Play", "$.STB.Decoder"),
    ],
)
def test_patterns_are_topic_filters(
    pattern: str, topic_filter: str, inside: str, outside: str
) -> None:
    assert names.pattern_to_filter(pattern) == topic_filter
    assert names.matches(pattern, inside) and not names.matches(pattern, outside)


def test_topics_of_a_node_and_their_parse() -> None:
    t = Topics("home/kbus")
    topic = t.announcement("gateway", "$.STB.Decoder.Event.Playing")
    assert topic == "home/kbus/gateway/$/STB/Decoder/Event/Playing"
    assert t.parse(topic) == ("gateway", "$", "$.STB.Decoder.Event.Playing")
    assert t.parse(t.state("gateway")) == ("gateway", "state", "")
    assert t.parse(t.request("gateway")) == ("gateway", "req", "")
    assert t.parse(t.response("bedroom")) == ("bedroom", "resp", "")
    with pytest.raises(ValueError):
        t.parse("home/kbus/gateway/other")


def test_metadata_round_trip() -> None:
    meta = Meta(
        "gateway",
        "0123456789abcdef",
        42,
        protocol.KIND_REQUEST,
        name="$.STB.Decoder.Play",
        id=(7, 9),
        orig_from=(7, 3),
        final_to=(8, 5),
        flags=0x10000,
    )
    assert Meta.decode(meta.encode()) == meta
    with pytest.raises(ValueError):
        Meta.decode("v=2 N=a e=b s=1 k=a")


def test_kbus_statuses_become_bridge_statuses() -> None:
    assert protocol.status_for_kbus("$.KBUS.Replier.GoneAway") == "$.Bridge.Replier.GoneAway"
    assert protocol.remote_error(28) == "$.Bridge.RemoteError.ENOSPC"
    assert all(not s.startswith("$.KBUS.") for s in (protocol.GONE_AWAY, protocol.TIMEOUT))
