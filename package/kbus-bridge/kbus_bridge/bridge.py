# SPDX-License-Identifier: MIT
"""The bridge: one KBUS device on one side, one MQTT session on the other.

One thread does everything that touches the bus, in the order things
happen; the MQTT client's own thread only queues what it receives
(kbus_bridge.transport).  docs/bridge.md states the guarantees; in short:

* announcements that were made on this bus (their id's network id is 0) and
  match an export pattern go to ``PREFIX/NODE/$/...``; those of other
  nodes matching an import pattern are sent on this bus with their origin
  in ``id`` and ``orig_from``.  A message that came from a bridge is never
  sent back out: no loops, and two bridges on one bus do not echo;
* a replier on this bus whose binding is within an export pattern is listed
  in this node's retained state; other bridges bind the same name as proxy
  repliers.  A request to a proxy goes to the replier's node and every
  request the bridge took gets exactly one answer: the replier's reply, or a
  ``$.Bridge.*`` status (never silence, never two);
* everything one bridge publishes carries its (epoch, sequence number):
  receivers deliver it in that order and drop duplicates.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import secrets
import select
import signal
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from kbus import Message, MessageId, OrigFrom, abi, split_replier_bind_event_data

from . import names, protocol
from .config import Config
from .protocol import Meta, State, Topics, kv

log = logging.getLogger("kbus-bridge")

#: KBUS flag bits that travel with a message: URGENT and the application's.
TRAVELLING_FLAGS = abi.KBUS_BIT_URGENT | abi.KBUS_APPLICATION_FLAGS_MASK
BIND_EVENT = abi.KBUS_MSG_NAME_REPLIER_BIND_EVENT
SEND_RETRIES = 5
DROP_LOG_INTERVAL = 1.0
RECONCILE_RETRY = 0.5


class Bus(Protocol):
    """What the bridge uses of a kbus Ksock (so tests can stand in for it)."""

    def bind(self, name: str | bytes, replier: bool = False) -> None: ...
    def unbind(self, name: str | bytes, replier: bool = False) -> None: ...
    def ksock_id(self) -> int: ...
    def send_msg(self, message: Message) -> MessageId: ...
    def discard(self) -> None: ...
    def read_next_msg(self) -> Message | None: ...
    def fileno(self) -> int: ...
    def want_messages_once(self, only_once: bool = False, just_ask: bool = False) -> int: ...
    def report_replier_binds(self, report_events: bool = True, just_ask: bool = False) -> int: ...
    def set_max_messages(self, count: int) -> int: ...
    def close(self) -> None: ...


class Transport(Protocol):
    """What the bridge uses of kbus_bridge.transport.MqttTransport."""

    def fileno(self) -> int: ...
    def start(self) -> None: ...
    def stop(self, timeout: float = 3.0) -> None: ...
    def connected(self) -> bool: ...
    def broker_error(self) -> str: ...
    def publish(
        self,
        topic: str,
        payload: bytes,
        meta: str | None,
        retain: bool = False,
        response_topic: str | None = None,
        correlation: bytes | None = None,
        track: bool = False,
    ) -> str: ...
    def ack(self, event: Any) -> None: ...  # noqa: ANN401
    def queued(self) -> int: ...
    def take(self) -> list[Any]: ...


TransportFactory = Callable[[Config, list[tuple[str, bool]], str, bytes], Transport]

COUNTERS = (
    # from this bus to the broker
    "announcements_out",
    "requests_out",
    "answers_out",
    # from the broker to this bus
    "announcements_in",
    "requests_in",
    "answers_in",
    # answers this bridge gave instead of a reply (by kind, below)
    "statuses",
    # losses and refusals: each one is also logged (and announced)
    "dropped_out",  # not published: the MQTT queue was full
    "dropped_answers",  # an answer for the broker, not published (queue full)
    "local_send_errors",  # KBUS refused an announcement from another node
    "undeliverable",  # an answer for a requester that had gone
    "late_answers",  # an answer after the request was already answered
    "duplicates",  # a message received twice (MQTT QoS 1 redelivery)
    "malformed",  # a message that is not the bridges' protocol
    "kbus_queue_full",  # the bridge's Ksock queue was full: KBUS may have skipped it
    "replier_conflicts",  # two nodes offer the same replier name
    "shadowed",  # a remote replier hidden by a local one of the same name
    # the connection
    "connects",
    "disconnects",
    "sessions_lost",  # reconnected without the broker keeping the session
    "peer_restarts",
)
DROP_COUNTERS = (
    "dropped_out",
    "dropped_answers",
    "local_send_errors",
    "undeliverable",
    "late_answers",
    "malformed",
    "kbus_queue_full",
)


@dataclass
class Peer:
    """Another bridge, as its state and its messages tell."""

    node: str
    online: bool = False
    epoch: str = ""
    network_id: int = 0
    repliers: tuple[str, ...] = ()
    state_seq: int = 0
    last_seq: int = 0  # of the current epoch: the stream's order
    since: float = 0.0


@dataclass
class PendingOut:
    """A request from this bus waiting for its answer from another node."""

    requester: int  # the requester's Ksock id
    request_id: MessageId  # its id on this bus
    name: str
    node: str
    deadline: float


@dataclass
class PendingIn:
    """A request from another node, sent on this bus, waiting for its answer."""

    response_topic: str
    correlation: bytes
    node: str
    name: str
    since: float


@dataclass
class Drops:
    last_log: float = 0.0
    logged: dict[str, int] = field(default_factory=dict)


def _pair(value: MessageId | OrigFrom | None) -> tuple[int, int] | None:
    if value is None:
        return None
    first, second = value._key()  # noqa: SLF001 (the pair as a tuple)
    return (first, second) if (first, second) != (0, 0) else None


def _kname(name: str) -> str | bytes:
    """A Latin-1 name text as the kbus package takes it."""
    return name if name.isascii() else names.as_bytes(name)


def _text(name: str) -> str:
    """A name from the kbus package as Latin-1 text."""
    return name if name.isascii() else names.as_text(name)


class Bridge:
    def __init__(
        self,
        cfg: Config,
        bus: Bus,
        transport_factory: TransportFactory,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cfg = cfg
        self.node = cfg.node
        self.net = cfg.network_id
        self.bus = bus
        self.clock = clock
        self.started = clock()
        self.epoch = secrets.token_hex(8)
        self.seq = 0
        self.topics = Topics(cfg.broker.prefix)
        self.state_name = protocol.STATE_REQUEST_PREFIX + self.node
        self.counters = dict.fromkeys(COUNTERS, 0)
        self.status_counts: dict[str, int] = {}
        self.drops = Drops()
        self.peers: dict[str, Peer] = {}
        self.proxies: dict[str, str] = {}  # binding -> node
        self.shadowed: set[str] = set()
        self.conflicts: set[str] = set()
        self.local_repliers: dict[str, int] = {}  # binding -> binder (not us)
        self.advertised: tuple[str, ...] = ()
        self.pending_out: dict[bytes, PendingOut] = {}
        self.pending_in: dict[tuple[int, int], PendingIn] = {}
        self.next_correlation = 0
        self.connected = False
        self.ever_connected = False
        self.dirty = True  # repliers to reconcile
        self.retry_at = 0.0
        self.next_status = clock() + cfg.limits.status_interval
        self.stopping = False
        self.me = bus.ksock_id()
        self._setup_bus()
        subscriptions = [(self.topics.state("+"), False)]
        subscriptions += [(self.topics.request(self.node), False)]
        subscriptions += [(self.topics.response(self.node), False)]
        for pattern in cfg.imports:
            subscriptions.append((self.topics.announcement_filter(pattern), True))
        will = State(self.node, False, self.epoch, 0, self.net).encode()
        self.transport = transport_factory(cfg, subscriptions, self.topics.state(self.node), will)

    # -- set-up ------------------------------------------------------------------

    def _setup_bus(self) -> None:
        bus = self.bus
        bus.set_max_messages(self.cfg.limits.kbus_queue)
        bus.want_messages_once(True)
        # the bridge's own state: also what marks this Ksock as a bridge's
        # for other bridges on this bus (they never export its bindings)
        bus.bind(self.state_name, replier=True)
        for pattern in self.cfg.export:
            bus.bind(pattern)
        if self.cfg.export:
            bus.bind(BIND_EVENT)
            try:
                bus.report_replier_binds(True)
            except PermissionError:
                if not bus.report_replier_binds(just_ask=True):
                    log.error(
                        "cannot turn on replier bind events (EPERM: the bridge needs root or "
                        "the device's owner): no replier will be exported"
                    )

    # -- the loop -------------------------------------------------------------------

    def run(self) -> None:
        """Until SIGTERM or SIGINT."""
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        old = {}
        for sig in (signal.SIGTERM, signal.SIGINT):
            old[sig] = signal.signal(sig, lambda *_: os.write(wake_w, b"x"))
        try:
            self.transport.start()
            log.info(
                "bridge %s (network id %d, epoch %s) on /dev/kbus%d, broker %s, "
                "export %s, import %s",
                self.node,
                self.net,
                self.epoch,
                self.cfg.device,
                self.cfg.broker.url,
                self.cfg.export or "nothing",
                self.cfg.imports or "nothing",
            )
            while not self.stopping:
                timeout = self.next_timeout()
                readable, _, _ = select.select(
                    [self.bus, self.transport.fileno(), wake_r], [], [], timeout
                )
                if wake_r in readable:
                    self.stopping = True
                    break
                self.step()
        finally:
            for sig, handler in old.items():
                signal.signal(sig, handler)
            os.close(wake_r)
            os.close(wake_w)
            self.shutdown()

    def step(self) -> None:
        """Everything that is due: the bus's queue, MQTT's events, timers."""
        self.drain_bus()
        for event in self.transport.take():
            self.handle_event(event)
        self.drain_bus()
        now = self.clock()
        self.expire(now)
        if self.dirty or (self.retry_at and now >= self.retry_at):
            self.reconcile()
        if self.cfg.limits.status_interval and now >= self.next_status:
            self.next_status = now + self.cfg.limits.status_interval
            self.announce_event("Counters", **self.counters)

    def next_timeout(self) -> float:
        now = self.clock()
        times = [p.deadline for p in self.pending_out.values()]
        if self.cfg.limits.status_interval:
            times.append(self.next_status)
        if self.retry_at:
            times.append(self.retry_at)
        if not times:
            return 60.0
        return max(0.0, min(min(times) - now, 60.0))

    def shutdown(self) -> None:
        """Answer what waits, say offline (retained), end the session."""
        for key in list(self.pending_out):
            self.answer_status(key, protocol.UNREACHABLE, reason="bridge-stopped")
        if self.connected:
            state = State(self.node, False, self.epoch, self._next_seq(), self.net)
            meta = Meta(self.node, self.epoch, state.seq, protocol.KIND_STATE).encode()
            self.transport.publish(
                self.topics.state(self.node), state.encode(), meta, retain=True, track=True
            )
        self.transport.stop()
        log.info("bridge %s stopped: %s", self.node, self._counters_text())

    # -- KBUS -> MQTT ---------------------------------------------------------------

    def drain_bus(self) -> None:
        limit = self.cfg.limits.kbus_queue
        count = 0
        while True:
            msg = self.bus.read_next_msg()
            if msg is None:
                break
            count += 1
            try:
                self.handle_bus_message(msg)
            except Exception:
                log.exception("cannot handle %s", msg)
                if msg.wants_us_to_reply():
                    self._reply_locally(msg, protocol.remote_error(errno.EIO), kv(bridge=self.node))
        if count >= limit:
            self.drop("kbus_queue_full", f"the bridge's queue was full ({limit} messages)")
        if self.dirty:
            self.reconcile()

    def handle_bus_message(self, msg: Message) -> None:
        name = _text(msg.name)
        if msg.is_reply():
            if msg.to == self.me:
                self.answer_from_bus(msg, name)
            return  # a listener's copy of a reply: replies are not exported
        if msg.wants_us_to_reply():
            self.request_from_bus(msg, name)
            return
        if name == BIND_EVENT:
            self.bind_event(msg)
            return
        if msg.is_request():
            return  # a listener's copy of a request: requests go to repliers only
        self.announcement_from_bus(msg, name)

    def announcement_from_bus(self, msg: Message, name: str) -> None:
        mid = msg.id
        if mid is not None and mid.network_id != 0:
            return  # it came from another bus: a bridge sent it here (no echo)
        if msg.from_ == self.me or msg.from_ in self.bridge_ksocks():
            return
        if name.startswith(protocol.RESERVED_PREFIXES):
            return
        if not any(names.matches(p, name) for p in self.cfg.export):
            return
        serial = mid.serial_num if mid is not None else 0
        meta = Meta(
            self.node,
            self.epoch,
            0,
            protocol.KIND_ANNOUNCEMENT,
            id=(self.net, serial),
            orig_from=_pair(msg.orig_from) or (self.net, msg.from_),
            flags=msg.flags & TRAVELLING_FLAGS,
        )
        if self.publish(self.topics.announcement(self.node, name), msg.data or b"", meta):
            self.counters["announcements_out"] += 1
        else:
            self.drop("dropped_out", f"announcement {name}")

    def request_from_bus(self, msg: Message, name: str) -> None:
        """A request to one of our replier bindings: our state, or a proxy."""
        if name == self.state_name:
            self._reply_locally(msg, name, self.state_json(), status=False)
            return
        final_to = _pair(msg.final_to)
        node: str | None = None
        if final_to is not None and final_to[0] != 0:
            if final_to[0] == self.net:
                self._reply_locally(msg, protocol.NOT_SAME_KSOCK, kv(bridge=self.node))
                return
            node = self.node_of_network(final_to[0])
            if node is None:
                self._reply_locally(
                    msg, protocol.GONE_AWAY, kv(bridge=self.node, reason="node-offline")
                )
                return
        else:
            binding = names.best_binding(name, self.proxies)
            node = self.proxies.get(binding) if binding is not None else None
            peer = self.peers.get(node) if node is not None else None
            if node is None or peer is None or not peer.online:
                self._reply_locally(
                    msg, protocol.GONE_AWAY, kv(bridge=self.node, node=node, reason="no-replier")
                )
                return
        if not self.connected:
            self._reply_locally(msg, protocol.UNREACHABLE, kv(bridge=self.node, node=node))
            return
        if len(self.pending_out) >= self.cfg.limits.max_pending:
            self._reply_locally(
                msg, protocol.BUSY, kv(bridge=self.node, node=node, reason="max-pending")
            )
            return
        self.next_correlation += 1
        correlation = struct.pack(">Q", self.next_correlation)
        mid = msg.id or MessageId(0, 0)
        meta = Meta(
            self.node,
            self.epoch,
            0,
            protocol.KIND_REQUEST,
            name=name,
            id=(mid.network_id or self.net, mid.serial_num),
            orig_from=_pair(msg.orig_from) or (self.net, msg.from_),
            final_to=final_to,
            flags=msg.flags & TRAVELLING_FLAGS,
        )
        sent = self.publish(
            self.topics.request(node),
            msg.data or b"",
            meta,
            response_topic=self.topics.response(self.node),
            correlation=correlation,
        )
        if not sent:
            self.drop("dropped_out", f"request {name}")
            self._reply_locally(msg, protocol.BUSY, kv(bridge=self.node, reason="queue-full"))
            return
        self.counters["requests_out"] += 1
        self.pending_out[correlation] = PendingOut(
            requester=msg.from_,
            request_id=MessageId(mid.network_id, mid.serial_num),
            name=name,
            node=node,
            deadline=self.clock() + self.cfg.limits.request_timeout,
        )

    def answer_from_bus(self, msg: Message, name: str) -> None:
        """The reply (or KBUS status) to a request another node sent here."""
        key = _pair(msg.in_reply_to)
        pending = self.pending_in.pop(key, None) if key is not None else None
        if pending is None:
            return
        data = msg.data or b""
        if name.startswith(protocol.KBUS_PREFIX):
            data = kv(node=self.node, status=name)
        meta = Meta(
            self.node,
            self.epoch,
            0,
            protocol.KIND_ANSWER,
            name=name,
            orig_from=_pair(msg.orig_from) or (self.net, msg.from_),
            flags=msg.flags & TRAVELLING_FLAGS,
        )
        if self.publish(pending.response_topic, data, meta, correlation=pending.correlation):
            self.counters["answers_out"] += 1
        else:
            self.drop("dropped_answers", f"answer {name} for {pending.node}")

    def bind_event(self, msg: Message) -> None:
        try:
            is_bind, binder, bound = split_replier_bind_event_data(msg.data or b"")
        except ValueError:
            return
        if binder == self.me:
            return  # our own proxies
        bound = _text(bound)
        if is_bind:
            self.local_repliers[bound] = binder
        elif self.local_repliers.get(bound) == binder:
            del self.local_repliers[bound]
        self.dirty = True

    def bridge_ksocks(self) -> set[int]:
        """Ksocks of other bridges on this bus (each binds $.BridgeState.NODE)."""
        return {
            binder
            for name, binder in self.local_repliers.items()
            if name.startswith(protocol.STATE_REQUEST_PREFIX)
        }

    # -- MQTT -> KBUS ---------------------------------------------------------------

    def handle_event(self, event: Any) -> None:  # noqa: ANN401
        kind = type(event).__name__
        if kind == "Connected":
            self.on_connected(event.session_present)
        elif kind == "Disconnected":
            self.on_disconnected(event.reason)
        elif kind == "Received":
            try:
                self.on_received(event)
            finally:
                self.transport.ack(event)

    def on_connected(self, session_present: bool) -> None:
        self.connected = True
        self.counters["connects"] += 1
        if self.ever_connected and not session_present:
            self.counters["sessions_lost"] += 1
            log.warning(
                "reconnected to %s without the session: what was published for this "
                "bridge meanwhile is lost",
                self.cfg.broker.url,
            )
        self.ever_connected = True
        log.info("connected to %s as %s", self.cfg.broker.url, self.cfg.client_id)
        self.publish_state()
        self.announce_event("Connected", broker=self.cfg.broker.url, session=int(session_present))

    def on_disconnected(self, reason: str) -> None:
        self.connected = False
        self.counters["disconnects"] += 1
        waiting = len(self.pending_out)
        for key in list(self.pending_out):
            self.answer_status(key, protocol.UNREACHABLE, reason="broker-lost")
        log.warning(
            "lost the broker %s (%s); %d waiting request(s) answered %s",
            self.cfg.broker.url,
            reason,
            waiting,
            protocol.UNREACHABLE,
        )
        self.announce_event("Disconnected", broker=self.cfg.broker.url, reason=reason)

    def on_received(self, event: Any) -> None:  # noqa: ANN401
        try:
            node, what, name = self.topics.parse(event.topic)
        except ValueError:
            self.malformed(f"topic {event.topic!r}")
            return
        meta = None
        if event.meta is not None:
            try:
                meta = Meta.decode(event.meta)
            except ValueError as exc:
                self.malformed(str(exc))
                return
        if what == "state":
            self.on_state(node, event, meta)
            return
        if meta is None:
            self.malformed(f"no metadata on {event.topic}")
            return
        if meta.node == self.node:
            return  # our own (the broker should not send it back)
        if what == "$" and meta.node != node:
            self.malformed(f"{event.topic} published by {meta.node}")
            return
        if not self.accept(meta.node, meta):
            return
        if what == "$":
            self.announcement_from_broker(meta.node, name, meta, event.payload)
        elif what == "req" and node == self.node:
            self.request_from_broker(meta, event)
        elif what == "resp" and node == self.node:
            self.answer_from_broker(meta, event)

    def accept(self, node: str, meta: Meta) -> bool:
        """The stream check: a message of a node's current incarnation is
        taken only if it is newer than the last one taken from that node."""
        peer = self.peer(node)
        if meta.epoch != peer.epoch:
            self.new_incarnation(peer, meta.epoch)
        if meta.seq <= peer.last_seq:
            self.counters["duplicates"] += 1
            return False
        peer.last_seq = meta.seq
        return True

    def peer(self, node: str) -> Peer:
        peer = self.peers.get(node)
        if peer is None:
            peer = self.peers[node] = Peer(node)
        return peer

    def new_incarnation(self, peer: Peer, epoch: str) -> None:
        if peer.epoch:
            self.counters["peer_restarts"] += 1
            log.info("%s restarted (epoch %s, was %s)", peer.node, epoch, peer.epoch)
            self.fail_requests_to(peer.node, "peer-restarted")
        peer.epoch = epoch
        peer.last_seq = 0
        peer.state_seq = 0

    def on_state(self, node: str, event: Any, meta: Meta | None) -> None:  # noqa: ANN401
        try:
            state = State.decode(event.payload)
        except ValueError as exc:
            if event.payload:
                self.malformed(f"state of {node}: {exc}")
            return
        if state.node != node:
            self.malformed(f"state of {node} names {state.node}")
            return
        if node == self.node:
            if self.connected and not (state.online and state.epoch == self.epoch):
                log.info("the broker had an old state of this node: publishing ours again")
                self.publish_state()
            return
        peer = self.peer(node)
        live = meta is not None and not event.retain
        if live and meta is not None and meta.node != node:
            self.malformed(f"state of {node} published by {meta.node}")
            return
        if not state.online:
            # a will (no metadata) or a bridge stopping
            if peer.epoch and state.epoch != peer.epoch:
                return  # the end of an earlier incarnation: already replaced
            if live and meta is not None and not self.accept(node, meta):
                return
            self.peer_offline(peer, "stopped" if live else "will")
            return
        if live and meta is not None:
            if not self.accept(node, meta):
                return
        elif state.epoch == peer.epoch and state.seq <= peer.state_seq:
            return  # a retained copy older than what we know
        elif state.epoch != peer.epoch:
            self.new_incarnation(peer, state.epoch)
        was = peer.online
        peer.online = True
        peer.network_id = state.network_id
        peer.repliers = state.repliers
        peer.state_seq = state.seq
        if not was:
            peer.since = self.clock()
            log.info(
                "%s is online (network id %d, %d replier(s))",
                node,
                state.network_id,
                len(state.repliers),
            )
            self.announce_event("PeerUp", peer=node, network_id=state.network_id)
            self.check_network_ids(peer)
        self.dirty = True

    def peer_offline(self, peer: Peer, reason: str) -> None:
        if not peer.online:
            return
        peer.online = False
        peer.repliers = ()
        log.warning("%s is offline (%s)", peer.node, reason)
        self.fail_requests_to(peer.node, f"peer-{reason}")
        self.announce_event("PeerDown", peer=peer.node, reason=reason)
        self.dirty = True

    def fail_requests_to(self, node: str, reason: str) -> None:
        for key, pending in list(self.pending_out.items()):
            if pending.node == node:
                self.answer_status(key, protocol.GONE_AWAY, reason=reason)

    def check_network_ids(self, peer: Peer) -> None:
        if peer.network_id == self.net:
            log.error("%s has this node's network id %d: set network_id", peer.node, self.net)
        for other in self.peers.values():
            if other is not peer and other.online and other.network_id == peer.network_id:
                log.error(
                    "%s and %s have the same network id %d: set network_id",
                    peer.node,
                    other.node,
                    peer.network_id,
                )

    def node_of_network(self, network_id: int) -> str | None:
        for peer in self.peers.values():
            if peer.online and peer.network_id == network_id:
                return peer.node
        return None

    def announcement_from_broker(self, node: str, name: str, meta: Meta, data: bytes) -> None:
        if not any(names.matches(p, name) for p in self.cfg.imports):
            return  # MQTT's '#' also matched the parent level
        if name.startswith(protocol.RESERVED_PREFIXES):
            return
        mid = meta.id or (self.peers[node].network_id, 0)
        msg = Message(
            _kname(name),
            data or None,
            id=MessageId(*mid),
            orig_from=OrigFrom(*(meta.orig_from or (mid[0], 0))),
            flags=meta.flags & TRAVELLING_FLAGS,
        )
        try:
            self.send(msg)
        except OSError as exc:
            self.drop(
                "local_send_errors",
                f"announcement {name} from {node}: {errno.errorcode.get(exc.errno or 0, exc)}",
            )
            return
        self.counters["announcements_in"] += 1

    def request_from_broker(self, meta: Meta, event: Any) -> None:  # noqa: ANN401
        if not event.response_topic or event.correlation is None or meta.id is None:
            self.malformed("a request without response topic, correlation data or id")
            return
        origin = meta.node

        def answer(status: str, **fields: object) -> None:
            self.publish_answer(event, status, kv(node=self.node, **fields))

        name = meta.name
        if name == self.state_name:
            data = self.state_json()
            self.publish_answer(event, name, data, orig_from=(self.net, self.me))
            return
        key = meta.id
        if len(self.pending_in) >= self.cfg.limits.max_pending:
            answer(protocol.BUSY, reason="max-pending")
            return
        if key in self.pending_in:
            answer(protocol.remote_error(errno.EEXIST), reason="duplicate-id")
            return
        to = 0
        final_to = meta.final_to
        if final_to is not None:
            if final_to[0] != self.net:
                answer(protocol.NOT_SAME_KSOCK, reason="other-network")
                return
            to = final_to[1]
        msg = Message(
            _kname(name),
            event.payload or None,
            to=to,
            id=MessageId(*key),
            orig_from=OrigFrom(*(meta.orig_from or (key[0], 0))),
            final_to=OrigFrom(*final_to) if final_to else None,
            flags=abi.KBUS_BIT_WANT_A_REPLY | (meta.flags & TRAVELLING_FLAGS),
        )
        try:
            self.send(msg)
        except OSError as exc:
            err = exc.errno or errno.EIO
            answer(protocol.status_for_send_error(err), errno=errno.errorcode.get(err, err))
            return
        self.counters["requests_in"] += 1
        self.pending_in[key] = PendingIn(
            event.response_topic, event.correlation, origin, name, self.clock()
        )

    def publish_answer(
        self,
        event: Any,  # noqa: ANN401
        name: str,
        data: bytes,
        orig_from: tuple[int, int] | None = None,
    ) -> None:
        meta = Meta(self.node, self.epoch, 0, protocol.KIND_ANSWER, name=name, orig_from=orig_from)
        if self.publish(event.response_topic, data, meta, correlation=event.correlation):
            self.counters["answers_out"] += 1
        else:
            self.drop("dropped_answers", f"answer {name}")

    def answer_from_broker(self, meta: Meta, event: Any) -> None:  # noqa: ANN401
        pending = self.pending_out.pop(event.correlation, None) if event.correlation else None
        if pending is None:
            self.drop("late_answers", f"an answer {meta.name} after its request was answered")
            return
        name = protocol.status_for_kbus(meta.name)
        if name.startswith(protocol.BRIDGE_PREFIX):
            self._count_status(name)
        self.counters["answers_in"] += 1
        self.answer(pending, name, event.payload or None, meta.orig_from, meta.flags)

    # -- answers given on this bus --------------------------------------------------

    def answer(
        self,
        pending: PendingOut,
        name: str,
        data: bytes | None,
        orig_from: tuple[int, int] | None = None,
        flags: int = 0,
    ) -> None:
        msg = Message(
            _kname(name),
            data,
            to=pending.requester,
            in_reply_to=pending.request_id,
            orig_from=OrigFrom(*orig_from) if orig_from else None,
            flags=flags & TRAVELLING_FLAGS,
        )
        try:
            self.send(msg)
        except OSError as exc:
            if exc.errno == errno.EPERM and not name.startswith(protocol.BRIDGE_PREFIX):
                # the policy does not let the bridge send that name
                self.answer(pending, protocol.remote_error(errno.EPERM), kv(bridge=self.node))
                return
            self.drop(
                "undeliverable",
                f"{name} for requester {pending.requester}: "
                f"{errno.errorcode.get(exc.errno or 0, exc)}",
            )

    def answer_status(self, key: bytes, status: str, **fields: object) -> None:
        pending = self.pending_out.pop(key)
        self._count_status(status)
        self.answer(
            pending,
            status,
            kv(bridge=self.node, node=pending.node, request=pending.name, **fields),
        )

    def _reply_locally(self, msg: Message, name: str, data: bytes, status: bool = True) -> None:
        """Answer a request we were asked on this bus, at once."""
        if status:
            self._count_status(name)
        pending = PendingOut(msg.from_, msg.id or MessageId(0, 0), _text(msg.name), "", 0.0)
        self.answer(pending, name, data)

    def _count_status(self, name: str) -> None:
        self.counters["statuses"] += 1
        self.status_counts[name] = self.status_counts.get(name, 0) + 1

    def expire(self, now: float) -> None:
        for key, pending in list(self.pending_out.items()):
            if pending.deadline <= now:
                log.info(
                    "no answer from %s to %s within %g s",
                    pending.node,
                    pending.name,
                    self.cfg.limits.request_timeout,
                )
                self.answer_status(key, protocol.TIMEOUT, timeout=self.cfg.limits.request_timeout)

    # -- repliers: ours for the others, theirs as our proxies ----------------------

    def exported(self) -> tuple[str, ...]:
        bridges = self.bridge_ksocks()
        found = {
            name
            for name, binder in self.local_repliers.items()
            if binder not in bridges
            and not name.startswith(protocol.RESERVED_PREFIXES)
            and any(names.covers(p, name) for p in self.cfg.export)
        }
        return (self.state_name, *sorted(found))

    def imported(self, node: str, name: str) -> bool:
        if name == protocol.STATE_REQUEST_PREFIX + node:
            return True
        if name.startswith(protocol.RESERVED_PREFIXES):
            return False
        return any(names.covers(p, name) for p in self.cfg.imports)

    def reconcile(self) -> None:
        self.dirty = False
        self.retry_at = 0.0
        exported = self.exported()
        if exported != self.advertised:
            self.advertised = exported
            self.publish_state()
        desired: dict[str, str] = {}
        conflicts: set[str] = set()
        for node in sorted(self.peers):
            peer = self.peers[node]
            if not peer.online:
                continue
            for name in peer.repliers:
                if not self.imported(node, name):
                    continue
                if name in desired and desired[name] != node:
                    conflicts.add(name)
                    continue
                desired[name] = node
        for name in sorted(conflicts - self.conflicts):
            self.counters["replier_conflicts"] += 1
            log.warning("several nodes offer %s: using %s's", name, desired[name])
        self.conflicts = conflicts
        for name in list(self.proxies):
            if name not in desired:
                self._unbind_proxy(name)
        shadowed = set()
        for name, node in desired.items():
            if name in self.proxies:
                self.proxies[name] = node
                continue
            if name in self.local_repliers:
                shadowed.add(name)
                continue
            try:
                self.bus.bind(_kname(name), replier=True)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    shadowed.add(name)
                elif exc.errno == errno.EAGAIN:
                    self.retry_at = self.clock() + RECONCILE_RETRY
                else:
                    log.error("cannot bind %s as replier: %s", name, exc)
                continue
            self.proxies[name] = node
        for name in sorted(shadowed - self.shadowed):
            if name.startswith(protocol.STATE_REQUEST_PREFIX):
                continue  # another bridge on this bus answers for that node already
            self.counters["shadowed"] += 1
            log.warning("%s has a replier here: %s's is not used", name, desired[name])
        self.shadowed = shadowed

    def _unbind_proxy(self, name: str) -> None:
        try:
            self.bus.unbind(_kname(name), replier=True)
        except OSError as exc:
            if exc.errno == errno.EAGAIN:
                self.retry_at = self.clock() + RECONCILE_RETRY
                return
            log.error("cannot unbind %s: %s", name, exc)
        del self.proxies[name]

    # -- publishing ---------------------------------------------------------------

    def _next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def publish(
        self,
        topic: str,
        payload: bytes,
        meta: Meta,
        retain: bool = False,
        response_topic: str | None = None,
        correlation: bytes | None = None,
    ) -> bool:
        """Publish with the next sequence number; False if the queue was full
        (then the number is not used)."""
        meta.seq = self.seq + 1
        result = self.transport.publish(
            topic, payload, meta.encode(), retain, response_topic, correlation
        )
        if result != "ok":
            return False
        self.seq = meta.seq
        return True

    def publish_state(self) -> None:
        state = State(self.node, True, self.epoch, self.seq + 1, self.net, self.advertised)
        meta = Meta(self.node, self.epoch, 0, protocol.KIND_STATE)
        if not self.publish(self.topics.state(self.node), state.encode(), meta, retain=True):
            self.drop("dropped_out", "this node's state")
            self.retry_at = self.clock() + RECONCILE_RETRY
            self.advertised = ()  # published again on the retry

    # -- KBUS sends, events, losses -------------------------------------------------

    def send(self, msg: Message) -> MessageId:
        for _ in range(SEND_RETRIES):
            try:
                return self.bus.send_msg(msg)
            except BlockingIOError:
                self._discard()
            except OSError:
                self._discard()
                raise
        raise BlockingIOError(errno.EAGAIN, "KBUS kept saying EAGAIN")

    def _discard(self) -> None:
        try:
            self.bus.discard()
        except OSError:
            pass

    def announce_event(self, event: str, **fields: object) -> None:
        msg = Message(protocol.EVENT_PREFIX + event, kv(bridge=self.node, **fields))
        try:
            self.send(msg)
        except OSError as exc:
            log.debug("cannot announce %s: %s", event, exc)

    def drop(self, counter: str, what: str) -> None:
        self.counters[counter] += 1
        now = self.clock()
        if now - self.drops.last_log < DROP_LOG_INTERVAL:
            return
        self.drops.last_log = now
        changed = {
            k: self.counters[k]
            for k in DROP_COUNTERS
            if self.counters[k] != self.drops.logged.get(k, 0)
        }
        self.drops.logged = {k: self.counters[k] for k in DROP_COUNTERS}
        log.warning(
            "%s: %s (totals: %s)",
            counter,
            what,
            " ".join(f"{k}={v}" for k, v in changed.items()),
        )
        self.announce_event("Dropped", what=counter, **changed)

    def malformed(self, what: str) -> None:
        self.drop("malformed", what)

    # -- the state, for people ---------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        now = self.clock()
        return {
            "node": self.node,
            "network_id": self.net,
            "epoch": self.epoch,
            "device": self.cfg.device,
            "ksock": self.me,
            "uptime": round(now - self.started, 1),
            "broker": self.cfg.broker.url,
            "client_id": self.cfg.client_id,
            "connected": self.connected,
            "broker_error": "" if self.connected else self.transport.broker_error(),
            "prefix": self.cfg.broker.prefix,
            "export": self.cfg.export,
            "import": self.cfg.imports,
            "exported_repliers": list(self.advertised),
            "peers": {
                p.node: {
                    "online": p.online,
                    "network_id": p.network_id,
                    "epoch": p.epoch,
                    "repliers": list(p.repliers),
                }
                for p in sorted(self.peers.values(), key=lambda p: p.node)
            },
            "proxies": dict(sorted(self.proxies.items())),
            "shadowed": sorted(self.shadowed),
            "pending_out": len(self.pending_out),
            "pending_in": len(self.pending_in),
            "mqtt_queue": self.transport.queued(),
            "counters": dict(self.counters),
            "statuses": dict(sorted(self.status_counts.items())),
        }

    def state_json(self) -> bytes:
        return json.dumps(self.state_dict(), separators=(",", ":")).encode()

    def _counters_text(self) -> str:
        return " ".join(f"{k}={v}" for k, v in self.counters.items() if v)
