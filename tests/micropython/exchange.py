# SPDX-License-Identifier: MIT
"""Request/reply between processes, run by either interpreter (micropython or
python3), so that any pair can be checked against each other:

    exchange.py replier NAME COUNT     bind NAME as replier, answer COUNT
                                       requests with b"re:" + their data
    exchange.py requester NAME COUNT   wait for NAME's replier, then COUNT
                                       requests, each followed by a stateful
                                       request to the same replier; checks
                                       every reply's fields and str()
    exchange.py rtt COUNT [SIZE]       COUNT round trips between two Ksocks
                                       of this process (SIZE data bytes);
                                       prints the mean round-trip time
    exchange.py wait                   an ALL_OR_WAIT send held up by a full
                                       listener: EAGAIN, the id kept,
                                       complete_send() timing out, then
                                       finishing once there is room
    exchange.py batch                  read_msgs() (BATCHREAD), sender_creds()
                                       (MSGCREDS), num_filtered() (FILTERED)

Each role prints "<role>: OK" (rtt: its figure) and exits 0; a failed check
raises (exit status 1).
"""

import errno
import sys
import time

from kbus import Announcement, Ksock, Message, Request, reply_to, stateful_request

IMPL = sys.implementation.name
EAGAIN = getattr(errno, "EAGAIN", 11)


def check(got: object, want: object) -> None:
    if got != want:
        raise AssertionError(f"{IMPL}: got {got!r}, want {want!r}")


def replier(name: str, count: int) -> None:
    with Ksock(0) as k:
        k.bind(name, True)
        print("replier: ready", k.ksock_id())
        answered = 0
        while answered < count * 2:
            msg = k.wait_for_msg(30)
            if msg is None:
                raise AssertionError(f"{IMPL} replier: no request within 30 s")
            check((msg.name, msg.is_request(), msg.wants_us_to_reply()), (name, True, True))
            to = f"to={k.ksock_id()}, " if msg.to else ""
            want = (
                f"<Request '{name}', id={msg.id}, {to}from={msg.from_},"
                f" flags=0x3 (REQ,YOU), data={msg.data!r}>"
            )
            check(str(msg), want)
            k.send_msg(reply_to(msg, b"re:" + msg.data))
            answered += 1
        check(k.num_unreplied_to(), 0)
    print("replier: OK")


def requester(name: str, count: int) -> None:
    with Ksock(0) as k:
        me = k.ksock_id()
        them = None
        for _ in range(300):
            them = k.find_replier(name)
            if them is not None:
                break
            time.sleep(0.05)
        if them is None:
            raise AssertionError(f"{IMPL} requester: no replier for {name}")
        for n in range(count):
            data = f"{IMPL} {n}".encode()
            req_id = k.send_msg(Request(name, data))
            reply = k.wait_for_msg(10)
            answer = b"re:" + data
            check(
                str(reply),
                f"<Reply '{name}', id={reply.id}, to={me}, from={them},"
                f" in_reply_to={req_id}, data={answer!r}>",
            )
            again = stateful_request(reply, name, data + b" again")
            check(again.to, them)
            again_id = k.send_msg(again)
            reply = k.wait_for_msg(10)
            check(
                (reply.in_reply_to, reply.from_, reply.data),
                (again_id, them, b"re:" + data + b" again"),
            )
    print("requester: OK")


def _now_us() -> int:
    return time.time_ns() // 1000


def rtt(count: int, size: int) -> None:
    with Ksock(0) as asker, Ksock(0) as answerer:
        name = f"$.Bench.Rtt.{asker.ksock_id()}"
        answerer.bind(name, True)
        data = b"x" * size
        for _ in range(10):  # warm-up
            asker.send_msg(Request(name, data))
            answerer.send_msg(reply_to(answerer.wait_for_msg(5), data))
            asker.wait_for_msg(5)
        start = _now_us()
        for _ in range(count):
            asker.send_msg(Request(name, data))
            answerer.send_msg(reply_to(answerer.wait_for_msg(5), data))
            reply = asker.wait_for_msg(5)
        elapsed = _now_us() - start
        check(reply.data, data if data else None)
    per = elapsed / count
    print(f"rtt: {IMPL} {per:.1f} us per round trip ({count} round trips, {size} data bytes)")


def wait() -> None:
    with Ksock(0) as listener, Ksock(0) as sender:
        name = f"$.Exchange.Wait.{listener.ksock_id()}"
        listener.bind(name)
        listener.set_max_messages(1)
        sender.send_msg(Announcement(name, b"filler"))
        try:
            sender.send_msg(Announcement(name, b"held", flags=Message.ALL_OR_WAIT))
        except OSError as e:
            check(e.args[0], EAGAIN)
        else:
            raise AssertionError("the send was not held up")
        held = sender.last_msg_id()
        try:
            sender.complete_send(0.2)
        except OSError:  # CPython: TimeoutError, MicroPython: OSError(ETIMEDOUT)
            pass
        else:
            raise AssertionError("complete_send did not time out")
        check(listener.read_next_msg().data, b"filler")
        check(sender.complete_send(10), held)
        got = listener.read_next_msg()
        check((got.id, got.data), (held, b"held"))
        # and with send_msg_and_wait: room made before the timeout is up
        check(
            sender.send_msg_and_wait(Announcement(name, b"one"), 1).serial_num, held.serial_num + 1
        )
        try:
            sender.send_msg_and_wait(Announcement(name, b"two", flags=Message.ALL_OR_WAIT), 0.2)
        except OSError:
            pass
        else:
            raise AssertionError("send_msg_and_wait did not time out")
        check(listener.read_next_msg().data, b"one")
        sender.send_msg(Announcement(name, b"three"))  # discarded: no EALREADY
        check([m.data for m in listener], [b"three"])
    print("wait: OK")


def batch() -> None:
    with Ksock(0) as listener, Ksock(0) as sender:
        name = f"$.Exchange.Batch.{listener.ksock_id()}"
        listener.bind(name + ".*")
        try:
            listener.sender_creds()
        except OSError as e:
            check(e.args[0], getattr(errno, "ENOMSG", 42))
        else:
            raise AssertionError("sender_creds before any read")
        check(listener.read_msgs(), [])
        check(listener.batch_read(just_ask=True), 1)
        for i in range(4):
            sender.send_msg(Announcement(f"{name}.M{i}", b"d" * i))
        small = Announcement(f"{name}.M0", b"").total_length()
        got = listener.read_msgs(2 * small + 8)  # room for two
        check([m.data for m in got], [None, b"d"])
        got = listener.read_msgs()
        check([m.data for m in got], [b"dd", b"ddd"])
        sender.send_msg(Announcement(f"{name}.Big", b"b" * 500))
        check([m.data for m in listener.read_msgs(64)], [b"b" * 500])  # alone
        creds = listener.sender_creds()
        check((creds.uid, creds.gid, creds.flags, creds.synthetic), (0, 0, 0, False))
        check(creds.pid > 0, True)  # this process (MicroPython has no getpid)
        check(listener.num_filtered(), 0)
        check(listener.wait_for_msgs(0.1), [])
        sender.send_msg(Announcement(f"{name}.W", b"w"))
        check([m.data for m in listener.wait_for_msgs(5)], [b"w"])
    print("batch: OK")


def main(args: list[str]) -> None:
    if len(args) >= 3 and args[0] == "replier":
        replier(args[1], int(args[2]))
    elif len(args) >= 3 and args[0] == "requester":
        requester(args[1], int(args[2]))
    elif args == ["wait"]:
        wait()
    elif args == ["batch"]:
        batch()
    elif len(args) >= 2 and args[0] == "rtt":
        rtt(int(args[1]), int(args[2]) if len(args) > 2 else 0)
    else:
        print(__doc__)
        sys.exit(2)


main(sys.argv[1:])
