# SPDX-License-Identifier: MIT
"""The MQTT side of a bridge: one paho-mqtt (>= 2) client, MQTT v5, QoS 1.

paho's network thread (``loop_start``) connects, reconnects with a growing
delay, and calls back; the callbacks only put events into a queue and wake
the bridge's thread through a pipe (:meth:`MqttTransport.fileno`).  The
bridge's thread does all the KBUS work and calls :meth:`publish` and
:meth:`ack`, which paho makes safe across threads.  So a broker that is slow
or unreachable never stops the bridge from reading its KBUS queue.

Bounds: paho keeps at most ``limits.out_queue`` QoS 1 messages that are not
yet acknowledged by the broker (publish() says FULL beyond that); the broker
sends at most ``limits.receive_maximum`` QoS 1 messages that the bridge has
not acknowledged (MQTT v5 Receive Maximum), and the bridge acknowledges a
message only after it has handled it (paho's manual_ack), so the event queue
holds at most that many messages.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import socket
import sys
import threading
from dataclasses import dataclass
from typing import Any

try:
    import ssl
except ImportError:  # pragma: no cover - depends on the Python build
    raise ImportError(
        "kbus-bridge needs Python's ssl module, also for mqtt:// (paho-mqtt 2.1 "
        "names ssl exceptions in its socket code)"
    ) from None

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from . import config as configmod
from .protocol import META_PROPERTY

log = logging.getLogger("kbus-bridge")

OK = "ok"  # handed to paho (sent, or sent once connected)
FULL = "full"  # paho's queue is full: not sent


@dataclass
class Connected:
    session_present: bool
    generation: int


@dataclass
class Disconnected:
    reason: str


@dataclass
class Received:
    topic: str
    payload: bytes
    meta: str | None
    retain: bool
    response_topic: str | None
    correlation: bytes | None
    mid: int
    qos: int
    generation: int


Event = Connected | Disconnected | Received


class MqttTransport:
    """paho's client, its network thread, and the events for the bridge."""

    def __init__(
        self,
        cfg: configmod.Config,
        subscriptions: list[tuple[str, bool]],
        will_topic: str,
        will_payload: bytes,
    ) -> None:
        self.cfg = cfg
        self.subscriptions = subscriptions  # (filter, no_local)
        self.events: collections.deque[Event] = collections.deque()
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._lock = threading.Lock()
        self._generation = 0  # connections so far (acks only go to the current one)
        self._connected = False
        # why the last attempt to connect failed ("" once connected), and the
        # reason last logged (each new reason is logged once, not each retry)
        self._error = ""
        self._error_logged = ""
        self._paho_error = ""  # paho's last error message (a failed read, ...)
        self._attempt_failed = False  # this connection attempt's failure is told
        self._tracked: collections.deque[mqtt.MQTTMessageInfo] = collections.deque(maxlen=4)
        b = cfg.broker
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=cfg.client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        client.max_queued_messages_set(cfg.limits.out_queue)
        client.max_inflight_messages_set(min(cfg.limits.out_queue, 100))
        client.reconnect_delay_set(b.reconnect_min, b.reconnect_max)
        client.enable_logger(logging.getLogger("kbus-bridge.paho"))
        if b.username:
            client.username_pw_set(b.username, configmod.password(cfg))
        if b.tls:
            client.tls_set(
                ca_certs=b.ca_file or None,
                certfile=b.cert_file or None,
                keyfile=b.key_file or None,
                cert_reqs=ssl.CERT_REQUIRED,
            )
            if b.tls_insecure:
                client.tls_insecure_set(True)
        client.will_set(will_topic, will_payload, qos=1, retain=True)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_socket_open = self._on_socket_open
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_log = self._on_log
        client.on_subscribe = self._on_subscribe
        self.client = client

    # -- the bridge's side --------------------------------------------------------

    def fileno(self) -> int:
        """Readable when events are waiting (the bridge's select() watches it)."""
        return self._wake_r

    def start(self) -> None:
        b = self.cfg.broker
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = b.session_expiry
        props.ReceiveMaximum = self.cfg.limits.receive_maximum
        # clean start the first time only: a new bridge process starts afresh,
        # a reconnect resumes the session (its subscriptions and queued messages)
        self.client.connect_async(
            b.host,
            b.port,
            keepalive=b.keepalive,
            clean_start=mqtt.MQTT_CLEAN_START_FIRST_ONLY,
            properties=props,
        )
        self.client.loop_start()

    def stop(self, timeout: float = 3.0) -> None:
        """Wait (a little) for what is queued, end the session, stop the thread."""
        with contextlib.suppress(Exception):
            if self.client.is_connected():
                for info in list(self._tracked):
                    with contextlib.suppress(Exception):
                        info.wait_for_publish(timeout)
                props = Properties(PacketTypes.DISCONNECT)
                props.SessionExpiryInterval = 0  # nobody will resume it
                self.client.disconnect(properties=props)
        self.client.loop_stop()
        os.close(self._wake_r)
        os.close(self._wake_w)

    def connected(self) -> bool:
        return self._connected and self.client.is_connected()

    def broker_error(self) -> str:
        """Why the bridge could not connect to the broker, last time it tried
        ("" when connected, or not tried yet): a refused TCP connection, a
        broker certificate that the CA does not sign, a TLS alert from a
        broker that wants a client certificate, a refused CONNECT."""
        return self._error

    def publish(
        self,
        topic: str,
        payload: bytes,
        meta: str | None,
        retain: bool = False,
        response_topic: str | None = None,
        correlation: bytes | None = None,
        track: bool = False,
    ) -> str:
        props = Properties(PacketTypes.PUBLISH)
        if meta is not None:
            props.UserProperty = (META_PROPERTY, meta)
        if response_topic is not None:
            props.ResponseTopic = response_topic
        if correlation is not None:
            props.CorrelationData = correlation
        info = self.client.publish(topic, payload, qos=1, retain=retain, properties=props)
        if info.rc == mqtt.MQTT_ERR_QUEUE_SIZE:
            return FULL
        if track:
            self._tracked.append(info)
        return OK

    def ack(self, event: Received) -> None:
        """Acknowledge a handled message (only on the connection it came on:
        after a reconnect the broker sends it again)."""
        if event.qos and event.generation == self._generation:
            self.client.ack(event.mid, event.qos)

    def queued(self) -> int:
        """Messages paho holds that the broker has not acknowledged."""
        return len(self.client._out_messages)  # noqa: SLF001 (paho has no accessor)

    def take(self) -> list[Event]:
        """The events that came since the last call."""
        with contextlib.suppress(BlockingIOError):
            while os.read(self._wake_r, 4096):
                pass
        out = []
        while self.events:
            out.append(self.events.popleft())
        return out

    # -- paho's thread ----------------------------------------------------------

    def _push(self, event: Event) -> None:
        self.events.append(event)
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._wake_w, b"!")

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,  # noqa: ANN401
        flags: mqtt.ConnectFlags,
        reason: Any,  # noqa: ANN401
        properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            self._failed(f"refused: {reason}")
            return
        with self._lock:
            self._generation += 1
            generation = self._generation
            self._error = self._error_logged = ""
        if not flags.session_present:
            subs = [
                (topic, SubscribeOptions(qos=1, noLocal=no_local))
                for topic, no_local in self.subscriptions
            ]
            client.subscribe(subs)
        self._connected = True
        self._push(Connected(flags.session_present, generation))

    def _on_socket_open(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:  # noqa: ANN401
        # small messages and QoS 1 acknowledgements: without TCP_NODELAY, Nagle's
        # algorithm and delayed ACKs add tens of milliseconds per exchange
        self._attempt_failed = False
        with contextlib.suppress(OSError, AttributeError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:  # noqa: ANN401
        # paho calls this while it handles the OSError of its connect (TCP, or
        # the TLS handshake: ssl.SSLError is an OSError), without passing it on
        exc = sys.exc_info()[1]
        self._failed(str(exc) if exc is not None else "cannot connect")

    def _failed(self, reason: str) -> None:
        self._attempt_failed = True
        with self._lock:
            self._error = reason
            if reason == self._error_logged:
                return
            self._error_logged = reason
        log.warning("cannot connect to the broker %s: %s", self.cfg.broker.url, reason)

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,  # noqa: ANN401
        flags: Any,  # noqa: ANN401
        reason: Any,  # noqa: ANN401
        properties: Properties | None,
    ) -> None:
        was = self._connected
        self._connected = False
        if was:
            self._push(Disconnected(str(reason)))
        elif not self._attempt_failed:  # closed before a CONNACK: a TLS alert, most often
            self._failed(f"the broker closed the connection: {self._paho_error or reason}")
        self._paho_error = ""

    def _on_log(self, client: mqtt.Client, userdata: Any, level: int, buf: str) -> None:  # noqa: ANN401
        # (paho's logger has the messages too: this keeps the last error, which
        # tells why a broker closed a connection before accepting it)
        if level == mqtt.MQTT_LOG_ERR:
            self._paho_error = buf

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: Any,  # noqa: ANN401
        mid: int,
        reasons: list[Any],
        properties: Properties | None,
    ) -> None:
        for (topic, _), reason in zip(self.subscriptions, reasons, strict=False):
            if reason.is_failure:
                log.error("the broker refused the subscription %s: %s", topic, reason)

    def _on_message(
        self,
        client: mqtt.Client,
        userdata: Any,  # noqa: ANN401
        msg: mqtt.MQTTMessage,
    ) -> None:
        props = msg.properties
        meta = None
        response_topic = None
        correlation = None
        if props is not None:
            for key, value in getattr(props, "UserProperty", []) or []:
                if key == META_PROPERTY:
                    meta = value
                    break
            response_topic = getattr(props, "ResponseTopic", None)
            correlation = getattr(props, "CorrelationData", None)
        try:
            topic = msg.topic
        except UnicodeDecodeError:
            topic = ""
        self._push(
            Received(
                topic=topic,
                payload=bytes(msg.payload),
                meta=meta,
                retain=bool(msg.retain),
                response_topic=response_topic,
                correlation=correlation,
                mid=msg.mid,
                qos=msg.qos,
                generation=self._generation,
            )
        )
