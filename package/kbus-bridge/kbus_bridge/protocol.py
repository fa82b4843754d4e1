# SPDX-License-Identifier: MIT
"""What the bridges say: MQTT topics and message metadata, the KBUS names of
the bridges' own messages, and their payloads.  docs/bridge.md is the
description; this module is the code.

MQTT topics (PREFIX is broker.prefix, NODE a bridge's node name)::

    PREFIX/NODE/$/A/B    an announcement $.A.B made on NODE's bus (QoS 1)
    PREFIX/NODE/state    NODE's bridge: online/offline, its repliers (retained;
                         the will sets it offline)
    PREFIX/NODE/req      requests for NODE's repliers (QoS 1, response topic
                         and correlation data as MQTT v5 request/response)
    PREFIX/NODE/resp     the answers to NODE's requests (QoS 1)

The payload of announcements, requests and answers is the KBUS message's
data, unchanged; what KBUS needs besides travels in one MQTT v5 user
property ``kbus``: space-separated ``key=value`` fields (:class:`Meta`).
"""

from __future__ import annotations

import errno
import json
from dataclasses import dataclass

from . import names

# -- KBUS names -------------------------------------------------------------------

#: KBUS's own status messages (replies named so are Status messages).
KBUS_PREFIX = "$.KBUS."
#: The bridges' status replies and their events.
#: The kernel reserves ``$.KBUS.`` to itself (a process sending such a name
#: gets EPERM), so a bridge answers for KBUS under this prefix instead.
BRIDGE_PREFIX = "$.Bridge."

#: Replier of each bridge: ``$.BridgeState.NODE`` answers the bridge's state
#: (JSON).  Not under ``$.Bridge.``: a reply named ``$.Bridge.…`` is a status.
STATE_REQUEST_PREFIX = "$.BridgeState."
#: Announcements: ``$.Bridge.Event.WHAT``, data ``key=value`` fields.
EVENT_PREFIX = "$.Bridge.Event."

#: Names never bridged: KBUS's and the bridges' own.
RESERVED_PREFIXES = (KBUS_PREFIX, BRIDGE_PREFIX, STATE_REQUEST_PREFIX)

# Status replies a bridge gives a requester on its bus instead of a reply.
# Each KBUS status relayed from the replier's box keeps its last words:
# $.KBUS.Replier.GoneAway there is $.Bridge.Replier.GoneAway here.
GONE_AWAY = "$.Bridge.Replier.GoneAway"  # no replier any more (or its box left)
NOT_SAME_KSOCK = "$.Bridge.Replier.NotSameKsock"  # stateful: another replier now
TIMEOUT = "$.Bridge.Timeout"  # no answer within limits.request_timeout
UNREACHABLE = "$.Bridge.Unreachable"  # no connection to the broker
BUSY = "$.Bridge.Busy"  # the bridge's bounds (pending requests, queue) reached
REMOTE_ERROR_PREFIX = "$.Bridge.RemoteError."  # + errno name: the far bus refused it


def is_status(message: object) -> bool:
    """True if a message is a status answer rather than a reply: a Reply
    named ``$.KBUS.…`` (from KBUS) or ``$.Bridge.…`` (from a bridge).  The
    kbus package's ``Message.cast()`` only knows the first kind."""
    name = getattr(message, "name", "")
    is_reply = getattr(message, "is_reply", None)
    if not callable(is_reply) or not is_reply():
        return False
    return str(name).startswith((KBUS_PREFIX, BRIDGE_PREFIX))


def status_for_kbus(name: str) -> str:
    """The bridge status relaying the KBUS status ``name`` from another box."""
    if name.startswith(KBUS_PREFIX):
        return BRIDGE_PREFIX + name[len(KBUS_PREFIX) :]
    return name


def remote_error(err: int) -> str:
    """``$.Bridge.RemoteError.EBUSY`` for errno.EBUSY (the number if unnamed)."""
    word = errno.errorcode.get(err, str(err)).replace("_", "")
    return REMOTE_ERROR_PREFIX + (word if word.isalnum() else str(err))


def status_for_send_error(err: int) -> str:
    """What answers a request that the replier's bus refused with ``err``."""
    if err == errno.EADDRNOTAVAIL:
        return GONE_AWAY  # no replier bound (any more)
    if err == errno.EPIPE:
        return NOT_SAME_KSOCK  # a stateful request, and another replier now
    return remote_error(err)


# -- key=value payloads -------------------------------------------------------------


def kv(**fields: object) -> bytes:
    """``key=value`` fields separated by spaces (values without spaces;
    None values left out): the data of events and status answers."""
    parts = []
    for key, value in fields.items():
        if value is None:
            continue
        text = str(value).replace("%", "%25").replace(" ", "%20").replace("=", "%3D")
        parts.append(f"{key}={text}")
    return " ".join(parts).encode()


def parse_kv(data: bytes | None) -> dict[str, str]:
    out = {}
    for word in (data or b"").decode("utf-8", "replace").split():
        key, _, value = word.partition("=")
        out[key] = value.replace("%3D", "=").replace("%20", " ").replace("%25", "%")
    return out


# -- ids ------------------------------------------------------------------------


def pair_text(pair: tuple[int, int] | None) -> str:
    return "0:0" if pair is None else f"{pair[0]}:{pair[1]}"


def parse_pair(text: str) -> tuple[int, int]:
    a, sep, b = text.partition(":")
    if not sep:
        raise ValueError(f"not N:M: {text!r}")
    first, second = int(a), int(b)
    if not (0 <= first <= 0xFFFFFFFF and 0 <= second <= 0xFFFFFFFF):
        raise ValueError(f"out of range: {text!r}")
    return first, second


# -- metadata of a published message ----------------------------------------------

KIND_ANNOUNCEMENT = "a"
KIND_REQUEST = "q"
KIND_ANSWER = "r"
KIND_STATE = "s"
META_PROPERTY = "kbus"


@dataclass
class Meta:
    """What travels with a message besides its data.

    ``node``: the sending bridge's node; ``epoch``: its incarnation (random,
    per start); ``seq``: its publication counter (1, 2, ...: one per published message,
    whatever the topic), so that receivers keep the sender's order and drop
    duplicates; ``kind``: announcement, request, answer, state; ``name``
    (requests and answers; announcements have it in their topic); ``id``:
    the KBUS message id on the sender's side (network id set); ``orig_from``:
    (network id, Ksock id) of the original sender or replier; ``final_to``:
    a stateful request's replier; ``flags``: the KBUS flags that travel
    (URGENT and the application bits 16-31).
    """

    node: str
    epoch: str
    seq: int
    kind: str
    name: str = ""
    id: tuple[int, int] | None = None
    orig_from: tuple[int, int] | None = None
    final_to: tuple[int, int] | None = None
    flags: int = 0

    def encode(self) -> str:
        parts = [f"v=1 N={self.node} e={self.epoch} s={self.seq} k={self.kind}"]
        if self.name:
            parts.append(f"n={self.name}")
        if self.id is not None:
            parts.append(f"i={pair_text(self.id)}")
        if self.orig_from is not None:
            parts.append(f"o={pair_text(self.orig_from)}")
        if self.final_to is not None:
            parts.append(f"t={pair_text(self.final_to)}")
        if self.flags:
            parts.append(f"f={self.flags:x}")
        return " ".join(parts)

    @classmethod
    def decode(cls, text: str) -> Meta:
        fields = dict(w.split("=", 1) for w in text.split() if "=" in w)
        if fields.get("v") != "1":
            raise ValueError(f"unknown metadata version in {text!r}")
        try:
            meta = cls(node=fields["N"], epoch=fields["e"], seq=int(fields["s"]), kind=fields["k"])
            meta.name = fields.get("n", "")
            if "i" in fields:
                meta.id = parse_pair(fields["i"])
            if "o" in fields:
                meta.orig_from = parse_pair(fields["o"])
            if "t" in fields:
                meta.final_to = parse_pair(fields["t"])
            meta.flags = int(fields.get("f", "0"), 16) & 0xFFFFFFFF
        except (KeyError, ValueError) as exc:
            raise ValueError(f"bad metadata {text!r}: {exc}") from None
        if meta.name:
            names.check_name(meta.name)
        return meta


# -- topics -----------------------------------------------------------------------


@dataclass(frozen=True)
class Topics:
    prefix: str

    def announcement(self, node: str, name: str) -> str:
        return f"{self.prefix}/{node}/{names.name_to_topic(name)}"

    def announcement_filter(self, pattern: str) -> str:
        return f"{self.prefix}/+/{names.pattern_to_filter(pattern)}"

    def state(self, node: str) -> str:
        return f"{self.prefix}/{node}/state"

    def request(self, node: str) -> str:
        return f"{self.prefix}/{node}/req"

    def response(self, node: str) -> str:
        return f"{self.prefix}/{node}/resp"

    def parse(self, topic: str) -> tuple[str, str, str]:
        """(node, what, rest): what is "state", "req", "resp" or "$" (an
        announcement, rest = its name); ValueError for other topics."""
        if not topic.startswith(self.prefix + "/"):
            raise ValueError(f"not under {self.prefix}/: {topic!r}")
        node, _, tail = topic[len(self.prefix) + 1 :].partition("/")
        if not node or not tail:
            raise ValueError(f"not a bridge topic: {topic!r}")
        if tail in ("state", "req", "resp"):
            return node, tail, ""
        if tail.startswith("$/"):
            return node, "$", names.topic_to_name(tail)
        raise ValueError(f"not a bridge topic: {topic!r}")


# -- the state of a bridge (retained) ---------------------------------------------


@dataclass
class State:
    node: str
    online: bool
    epoch: str
    seq: int = 0
    network_id: int = 0
    repliers: tuple[str, ...] = ()

    def encode(self) -> bytes:
        return json.dumps(
            {
                "v": 1,
                "node": self.node,
                "state": "online" if self.online else "offline",
                "epoch": self.epoch,
                "seq": self.seq,
                "network_id": self.network_id,
                "repliers": list(self.repliers),
            },
            separators=(",", ":"),
        ).encode()

    @classmethod
    def decode(cls, payload: bytes) -> State:
        try:
            obj = json.loads(payload.decode("utf-8"))
            state = cls(
                node=str(obj["node"]),
                online=obj["state"] == "online",
                epoch=str(obj["epoch"]),
                seq=int(obj.get("seq", 0)),
                network_id=int(obj.get("network_id", 0)),
                repliers=tuple(str(n) for n in obj.get("repliers", ())),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"bad state payload: {exc}") from None
        for name in state.repliers:
            names.check_name(name, wildcard=True)
        return state
