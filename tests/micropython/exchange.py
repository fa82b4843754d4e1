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

Each role prints "<role>: OK" (rtt: its figure) and exits 0; a failed check
raises (exit status 1).
"""

import sys
import time

from kbus import Ksock, Request, reply_to, stateful_request

IMPL = sys.implementation.name


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


def main(args: list[str]) -> None:
    if len(args) >= 3 and args[0] == "replier":
        replier(args[1], int(args[2]))
    elif len(args) >= 3 and args[0] == "requester":
        requester(args[1], int(args[2]))
    elif len(args) >= 2 and args[0] == "rtt":
        rtt(int(args[1]), int(args[2]) if len(args) > 2 else 0)
    else:
        print(__doc__)
        sys.exit(2)


main(sys.argv[1:])
