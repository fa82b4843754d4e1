# SPDX-License-Identifier: MIT
"""The bridge's configuration file (TOML, ``/etc/kbus-bridge.toml``).

Every key is optional; unknown keys are errors (a misspelt key must not be
ignored silently).  docs/bridge.md describes each one; the default file
(package/kbus-bridge/kbus-bridge.toml) bridges nothing.
"""

from __future__ import annotations

import tomllib
import urllib.parse
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import names

DEFAULT_PATH = "/etc/kbus-bridge.toml"
NODE_MAX_LEN = 32
PREFIX_MAX_LEN = 128


class ConfigError(Exception):
    """The configuration file is missing, not TOML, or has a bad value."""


@dataclass
class Broker:
    url: str = "mqtt://localhost:1883"
    prefix: str = "kbus"
    client_id: str = ""
    username: str = ""
    password: str = ""
    password_file: str = ""
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    tls_insecure: bool = False
    keepalive: int = 30
    session_expiry: int = 600
    reconnect_min: int = 1
    reconnect_max: int = 30
    # derived from url
    host: str = field(default="localhost", init=False)
    port: int = field(default=1883, init=False)
    tls: bool = field(default=False, init=False)


@dataclass
class Limits:
    request_timeout: float = 10.0
    max_pending: int = 256
    out_queue: int = 1000
    receive_maximum: int = 64
    kbus_queue: int = 2000
    status_interval: float = 60.0


@dataclass
class Config:
    enabled: bool = False
    node: str = ""
    network_id: int = 0
    device: int = 0
    export: list[str] = field(default_factory=list)
    imports: list[str] = field(default_factory=list)
    log_level: str = "info"
    broker: Broker = field(default_factory=Broker)
    limits: Limits = field(default_factory=Limits)
    path: str = ""

    @property
    def client_id(self) -> str:
        return self.broker.client_id or f"kbus-bridge-{self.node}"


def default_network_id(node: str) -> int:
    """A network id from the node name (CRC-32, never 0).  Set network_id
    explicitly when two nodes' names could collide."""
    return (zlib.crc32(node.encode("ascii")) & 0x7FFFFFFF) or 1


def _take(table: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:  # noqa: ANN401
    value = table.pop(key)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        want = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise ConfigError(f"{where}{key}: expected {want}, got {value!r}")
    return value


def _fill(obj: object, table: dict[str, Any], where: str) -> None:
    for key in list(table):
        if key.startswith("_") or key in ("host", "port", "tls") or not hasattr(obj, key):
            continue
        current = getattr(obj, key)
        setattr(obj, key, _take(table, key, type(current), where))
    if table:
        raise ConfigError(f"{where}unknown key(s): {', '.join(sorted(table))}")


def _patterns(values: object, key: str) -> list[str]:
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ConfigError(f"{key}: expected a list of KBUS names or wildcards")
    for value in values:
        try:
            names.check_name(value, wildcard=True)
        except ValueError as exc:
            raise ConfigError(f"{key}: {exc}") from None
        if value.startswith(("$.KBUS.", "$.Bridge.", "$.BridgeState.")):
            raise ConfigError(f"{key}: {value!r}: $.KBUS.*, $.Bridge.* are not bridged")
    return list(values)


def parse(data: dict[str, Any], path: str = "") -> Config:
    """A Config from the parsed TOML tables (ConfigError if anything is wrong)."""
    data = dict(data)
    cfg = Config(path=path)
    broker = data.pop("broker", {})
    limits = data.pop("limits", {})
    log = data.pop("log", {})
    if not all(isinstance(t, dict) for t in (broker, limits, log)):
        raise ConfigError("[broker], [limits] and [log] must be tables")
    if "export" in data:
        cfg.export = _patterns(data.pop("export"), "export")
    if "import" in data:
        cfg.imports = _patterns(data.pop("import"), "import")
    _fill(
        cfg,
        {k: data.pop(k) for k in list(data) if k in ("enabled", "node", "network_id", "device")},
        "",
    )
    if data:
        raise ConfigError(f"unknown key(s): {', '.join(sorted(data))}")
    _fill(cfg.broker, dict(broker), "broker.")
    _fill(cfg.limits, dict(limits), "limits.")
    log = dict(log)
    if "level" in log:
        cfg.log_level = _take(log, "level", str, "log.")
    if log:
        raise ConfigError(f"log.: unknown key(s): {', '.join(sorted(log))}")
    _validate(cfg)
    return cfg


def _validate(cfg: Config) -> None:
    if cfg.enabled or cfg.node:
        if not (cfg.node.isascii() and cfg.node.isalnum() and len(cfg.node) <= NODE_MAX_LEN):
            raise ConfigError(
                f"node: 1 to {NODE_MAX_LEN} ASCII letters and digits, not {cfg.node!r}"
            )
    if not 0 <= cfg.network_id <= 0xFFFFFFFF:
        raise ConfigError("network_id: an unsigned 32-bit number (0: from the node name)")
    if cfg.node and cfg.network_id == 0:
        cfg.network_id = default_network_id(cfg.node)
    if cfg.device < 0:
        raise ConfigError("device: a KBUS device number (0 for /dev/kbus0)")
    if cfg.log_level.lower() not in ("debug", "info", "warning", "error"):
        raise ConfigError("log.level: debug, info, warning or error")
    b = cfg.broker
    url = urllib.parse.urlsplit(b.url)
    if url.scheme not in ("mqtt", "mqtts"):
        raise ConfigError(f"broker.url: mqtt://HOST[:PORT] or mqtts://HOST[:PORT], not {b.url!r}")
    if url.username or url.password:
        raise ConfigError("broker.url: give the user name and password as broker.username/password")
    if url.path not in ("", "/") or url.query or url.fragment:
        raise ConfigError(f"broker.url: no path or query expected: {b.url!r}")
    if not url.hostname:
        raise ConfigError(f"broker.url: no host in {b.url!r}")
    b.tls = url.scheme == "mqtts"
    b.host = url.hostname
    try:
        b.port = url.port or (8883 if b.tls else 1883)
    except ValueError:
        raise ConfigError(f"broker.url: bad port in {b.url!r}") from None
    prefix = b.prefix
    if (
        not prefix
        or len(prefix) > PREFIX_MAX_LEN
        or prefix.startswith(("/", "$"))
        or prefix.endswith("/")
        or "//" in prefix
        or any(c in prefix for c in "+#\0")
    ):
        raise ConfigError(f"broker.prefix: topic levels without wildcards, not {prefix!r}")
    if (b.cert_file or b.key_file or b.ca_file or b.tls_insecure) and not b.tls:
        raise ConfigError("broker: ca_file, cert_file, key_file, tls_insecure need an mqtts:// url")
    if b.key_file and not b.cert_file:
        raise ConfigError("broker.key_file needs broker.cert_file")
    if b.password and b.password_file:
        raise ConfigError("broker: password or password_file, not both")
    for key in ("keepalive", "session_expiry", "reconnect_min", "reconnect_max"):
        if getattr(b, key) < 0:
            raise ConfigError(f"broker.{key}: not negative")
    if b.keepalive < 5:
        raise ConfigError("broker.keepalive: at least 5 s")
    if b.reconnect_min < 1 or b.reconnect_max < b.reconnect_min:
        raise ConfigError("broker: 1 <= reconnect_min <= reconnect_max")
    lim = cfg.limits
    if lim.request_timeout <= 0:
        raise ConfigError("limits.request_timeout: more than 0 s")
    if lim.status_interval < 0:
        raise ConfigError("limits.status_interval: 0 (none) or more")
    for key in ("max_pending", "out_queue", "receive_maximum", "kbus_queue"):
        if getattr(lim, key) < 1:
            raise ConfigError(f"limits.{key}: at least 1")
    if lim.receive_maximum > 65535:
        raise ConfigError("limits.receive_maximum: at most 65535 (MQTT)")
    # the Ksock holds a reply slot for each request it forwards onto the bus
    # and a queue entry for each request it is asked to forward
    if lim.kbus_queue < 2 * lim.max_pending + 16:
        raise ConfigError("limits.kbus_queue: at least 2 * max_pending + 16")


def password(cfg: Config) -> str | None:
    """The broker password (from password_file if given), or None."""
    b = cfg.broker
    if b.password_file:
        try:
            return Path(b.password_file).read_text(encoding="utf-8").rstrip("\n")
        except OSError as exc:
            raise ConfigError(f"broker.password_file: {exc}") from None
    return b.password or None


def load(path: str = DEFAULT_PATH) -> Config:
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not TOML: {exc}") from None
    try:
        return parse(data, path)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
