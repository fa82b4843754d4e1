# SPDX-License-Identifier: MIT
"""The KBUS bridge over TLS, in one guest: a Mosquitto broker whose one
listener (127.0.0.1:8883) is TLS only and wants a client certificate signed
by its CA (the certificate's CN is the MQTT user name), and bridges that
connect with mqtts:// URLs, the CA file and their client certificate and key
(docs/bridge.md, "TLS").  The CA and the certificates are made here, with
the openssl command, when the module starts.

Three buses: /dev/kbus0 (bridge boxa) and /dev/kbus1 (bridge boxb), bridged
over TLS; /dev/kbus2 for bridges that cannot connect.

* an announcement crosses, and a request gets its reply, over TLS;
* a bridge that does not trust the broker's CA, or that has no client
  certificate, does not connect, and says why in its log and its state;
* a bridge whose broker is replaced by one with a certificate its CA did not
  sign answers a request for a far replier ``$.Bridge.Unreachable`` (one
  answer, at once), and works again when the real broker is back.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from types import FrameType

import pytest
from kbus import Announcement, Ksock, Message, Request, reply_to

import bridge_util as bu
import kbus_util as util

TEST_TIMEOUT = 120 * bu.SLOW
TIMEOUT = 4.0  # limits.request_timeout of the bridges (times bu.SLOW)
PKI_DIR = os.path.join(bu.WORK, "pki")

missing = bu.have_bridge()
if not missing and not shutil.which("openssl"):
    missing = "openssl"
pytestmark = pytest.mark.skipif(
    bool(missing), reason=f"no bridge or no openssl here (missing: {missing})"
)


class BridgeTestTimeout(Exception):
    pass


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise BridgeTestTimeout("test took too long: watchdog fired")


@pytest.fixture(autouse=True)
def _kbus_guard() -> Iterator[None]:
    """Replaces the conformance suite's per-test guard: the bridges hold
    Ksocks on /dev/kbus0 between tests (the module fixture checks that none
    is left once they are stopped)."""
    old = signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(int(TEST_TIMEOUT))
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


class Tls:
    """The home CA (of the broker and the boxes), another CA that nobody
    here trusts, the TLS broker, and bridges boxa and boxb."""

    def __init__(self) -> None:
        self.pki = bu.Pki(os.path.join(PKI_DIR, "home"), "kbus-test-home-ca")
        self.impostor = bu.Pki(os.path.join(PKI_DIR, "impostor"), "kbus-test-other-ca")
        server = self.pki.issue("broker", server_ip="127.0.0.1")
        self.broker = bu.Broker(bu.TLS_PORT, tls=bu.BrokerTls(self.pki.ca.cert, server))
        self.a = self.bridge("boxa", 0, **self.client_keys("boxa"))
        self.b = self.bridge("boxb", 1, **self.client_keys("boxb"))

    def bridge(self, node: str, device: int, **keys: str) -> bu.BridgeProc:
        """A bridge to this broker with these [broker] keys."""
        return bu.BridgeProc(
            node, device, self.broker.url, timeout=TIMEOUT, broker_keys=keys
        )

    def client_keys(self, node: str) -> dict[str, str]:
        """The [broker] keys of a box whose certificate the home CA signed."""
        cert = self.pki.issue(node)
        return {
            "ca_file": self.pki.ca.cert,
            "cert_file": cert.cert,
            "key_file": cert.key,
        }


@pytest.fixture(scope="module")
def tls() -> Iterator[Tls]:
    util.reload_module("kbus_num_devices=3")
    util.wait_for_device(2)
    tls = Tls()
    assert tls.broker.url == f"mqtts://127.0.0.1:{bu.TLS_PORT}"
    tls.broker.start()
    tls.a.start()
    tls.b.start()
    yield tls
    logs = {b.node: b.log_text() for b in (tls.a, tls.b)}
    for bridge in (tls.a, tls.b):
        bridge.stop()
    tls.broker.stop()
    for dev in (0, 1, 2):
        assert util.ksock_ids_in_stats(dev) == [], (
            f"a Ksock left on /dev/kbus{dev}: {logs}"
        )
    util.reload_module()


def _answers(k: Ksock, mid: object, timeout: float = 3 * TIMEOUT) -> list[Message]:
    return bu.answer_of(k, mid, timeout)


def _broker_log(broker: bu.Broker) -> str:
    with open(broker.log, errors="replace") as f:
        return f.read()


def _refused(bridge: bu.BridgeProc) -> str:
    """The reason the bridge gives in its state for not being connected,
    once it gives one (it stays up, on its bus, and keeps trying)."""

    def reason() -> str | None:
        state = bridge.state(timeout=2)
        if state is None or state["connected"]:
            return None
        return str(state["broker_error"]) or None

    return str(
        bu.wait_until(reason, 30, f"{bridge.node} to say why it is not connected")
    )


# --------------------------------------------------------------------------
# a working TLS link


def test_the_broker_knows_each_bridge_by_its_client_certificate(tls: Tls) -> None:
    log = _broker_log(tls.broker)
    # Mosquitto: "New client connected from 127.0.0.1:PORT as kbus-bridge-boxa
    # (p5, c1, k10, u'boxa')": the user name is the certificate's CN
    for node in ("boxa", "boxb"):
        assert f"as kbus-bridge-{node} (" in log and f"u'{node}'" in log, log
    for bridge in (tls.a, tls.b):
        state = bridge.state()
        assert state is not None and state["connected"], bridge.log_text()
        assert state["broker"] == f"mqtts://127.0.0.1:{bu.TLS_PORT}"
        assert state["broker_error"] == ""


def test_an_announcement_crosses_over_tls_with_its_origin(tls: Tls) -> None:
    net_a = int((tls.a.state() or {})["network_id"])
    with Ksock(1) as far, Ksock(0) as sender:
        far.bind("$.Test.Tls.News")
        sender.send_msg(Announcement("$.Test.Tls.News", b"over tls"))
        got = bu.collect(far, 1, 10)
        assert far.wait_for_msg(0.5 * bu.SLOW) is None  # once
    assert [m.data for m in got] == [b"over tls"], tls.b.log_text()
    assert got[0].id is not None and got[0].id.network_id == net_a


def test_a_request_gets_its_reply_over_tls(tls: Tls) -> None:
    with Ksock(0) as replier, Ksock(1) as asker:
        replier.bind("$.Test.Tls.Echo", replier=True)
        bu.wait_replier("$.Test.Tls.Echo", device=1)
        mid = asker.send_msg(Request("$.Test.Tls.Echo", b"ping"))
        req = replier.wait_for_msg(10 * bu.SLOW)
        assert req is not None and req.wants_us_to_reply() and req.data == b"ping"
        replier.send_msg(reply_to(req, b"pong"))
        answers = _answers(asker, mid)
    assert [(m.name, m.data) for m in answers] == [("$.Test.Tls.Echo", b"pong")]
    assert not bu.is_status(answers[0])


# --------------------------------------------------------------------------
# bridges that cannot connect


def test_a_bridge_that_does_not_trust_the_brokers_ca_stays_away_and_says_why(
    tls: Tls,
) -> None:
    keys = tls.client_keys("boxw") | {"ca_file": tls.impostor.ca.cert}
    wrong = tls.bridge("boxw", 2, **keys)
    wrong.start(wait=False)
    try:
        reason = _refused(wrong)
        assert "certificate verify failed" in reason, reason
        assert "certificate verify failed" in wrong.log_text(), wrong.log_text()
        res = subprocess.run(
            ["kbus-bridge", "-c", wrong.conf, "status"],
            capture_output=True,
            text=True,
            timeout=60 * bu.SLOW,
            check=False,
        )
        assert res.returncode == 0, res.stderr
        assert "NOT CONNECTED (" in res.stdout, res.stdout
        assert "certificate verify failed" in res.stdout, res.stdout
        # it learnt of no replier: a request for boxa's, from its bus, finds
        # none there (KBUS refuses the send), rather than waiting for nothing
        with Ksock(0) as replier, Ksock(2) as asker:
            replier.bind("$.Test.Tls.Far", replier=True)
            bu.wait_replier("$.Test.Tls.Far", device=1)  # boxb has its proxy
            with pytest.raises(OSError) as err:
                asker.send_msg(Request("$.Test.Tls.Far"))
            assert err.value.errno == errno.EADDRNOTAVAIL
    finally:
        wrong.stop()
    assert "u'boxw'" not in _broker_log(tls.broker)


def test_a_bridge_without_a_client_certificate_is_turned_away(tls: Tls) -> None:
    nocert = tls.bridge("boxn", 2, ca_file=tls.pki.ca.cert)
    nocert.start(wait=False)
    try:
        # TLS 1.3: the client's handshake ends before the broker checks its
        # certificate; then the broker's alert (TLSV13_ALERT_CERTIFICATE_
        # REQUIRED), or only its close (EOF), ends the connection
        reason = _refused(nocert)
        assert reason.startswith("the broker closed the connection: "), reason
        assert "cannot connect to the broker" in nocert.log_text()
    finally:
        nocert.stop()
    log = _broker_log(tls.broker)
    assert "peer did not return a certificate" in log, log
    assert "u'boxn'" not in log


def test_a_broker_with_a_certificate_the_ca_did_not_sign_gives_unreachable(
    tls: Tls,
) -> None:
    """The broker's address answers with another CA's certificate (an
    impostor, or a broker whose certificate was changed): boxb does not talk
    to it, and says so to the requests it takes for boxa's replier."""
    real = tls.broker.tls
    assert real is not None
    with Ksock(0) as replier, Ksock(1) as asker:
        replier.bind("$.Test.Tls.Guarded", replier=True)
        bu.wait_replier("$.Test.Tls.Guarded", device=1)
        tls.broker.stop(signal.SIGKILL)  # no wills: boxb keeps its proxy
        impostor = tls.impostor.issue("impostor", server_ip="127.0.0.1")
        tls.broker.tls = bu.BrokerTls(tls.impostor.ca.cert, impostor)
        try:
            tls.broker.start()
            reason = _refused(tls.b)
            assert "certificate verify failed" in reason, reason
            bu.wait_replier("$.Test.Tls.Guarded", device=1)  # still bound
            mid = asker.send_msg(Request("$.Test.Tls.Guarded", b"1"))
            answers = _answers(asker, mid, 2 * TIMEOUT)
            assert [m.name for m in answers] == ["$.Bridge.Unreachable"], answers
            assert b"bridge=boxb" in (answers[0].data or b"")
            assert replier.read_next_msg() is None  # it never went out
            assert "certificate verify failed" in tls.b.log_text()
        finally:
            tls.broker.stop(signal.SIGKILL)
            tls.broker.tls = real
            tls.broker.start()
        for bridge in (tls.a, tls.b):
            bridge.wait_connected(60)
        # the far side's state comes back with the broker (retained anew)
        bu.wait_until(
            lambda: (
                (tls.b.state() or {}).get("peers", {}).get("boxa", {}).get("online")
            ),
            30,
            "boxb to see boxa again",
        )
        mid = asker.send_msg(Request("$.Test.Tls.Guarded", b"2"))
        req = replier.wait_for_msg(10 * bu.SLOW)
        assert req is not None and req.data == b"2"
        replier.send_msg(reply_to(req, b"back"))
        assert [m.data for m in _answers(asker, mid)] == [b"back"]
