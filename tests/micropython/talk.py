# SPDX-License-Identifier: MIT
"""The talk scenario as a self-checking script that both interpreters run:
``micropython talk.py`` and ``python3 talk.py`` (same checks, same expected
str() forms; the guest test compares their outputs too).

Rosencrantz and Guildenstern talk on /dev/kbus0, an audience listens and an
interloper takes Guildenstern's name when he leaves.  Ksock ids and message
ids are whatever KBUS gives (other Ksocks may exist): the expected texts are
built from them.  Prints one line per message heard, with the ids replaced
by names, and "talk: OK"; any failed check raises (exit status 1).
"""

import errno
import sys

from kbus import Announcement, Ksock, Message, MessageId, Request, reply_to, stateful_request

ASK = "$.Talk.Ask.Guildenstern"
# MicroPython's errno module has only the commonest names
EPIPE = getattr(errno, "EPIPE", 32)
SPEAK = "$.Talk.Speak"


def check(got: object, want: object) -> None:
    if got != want:
        raise AssertionError(f"got {got!r}, want {want!r}")


def heard(k: Ksock) -> list[str]:
    return [str(m) for m in k]


def main() -> None:
    rosencrantz, guildenstern, audience, interloper = Ksock(0), Ksock(0), Ksock(0), Ksock(0)
    r, g, i = rosencrantz.ksock_id(), guildenstern.ksock_id(), interloper.ksock_id()
    names = {r: "R", g: "G", i: "I"}

    def show(text: str) -> None:
        # the same line from both interpreters, whatever the ids
        for k in range(20):
            text = text.replace(f"[0:{n + k}]", f"[0:n+{k}]")
        for k_id, name in names.items():
            text = text.replace(f"from={k_id},", f"from={name},")
            text = text.replace(f"to={k_id},", f"to={name},")
        print(text)

    # 1. An announcement nobody listens to: sent, and dropped.
    first = rosencrantz.send_msg(Announcement(SPEAK, b"Ahem"))
    check(audience.num_messages(), 0)
    n = first.serial_num

    def mid(k: int) -> str:
        return f"[0:{n + k}]"

    # 2. The audience listens.
    audience.bind(SPEAK)
    check(rosencrantz.send_msg(Announcement(SPEAK, b"Ahem")), first + 1)
    msg = audience.read_next_msg()
    check(str(msg), f"<Announcement '{SPEAK}', id={mid(1)}, from={r}, data=b'Ahem'>")
    check(repr(msg), f"Message('{SPEAK}', data=b'Ahem', from_={r}, id=MessageId(0, {n + 1}))")
    show(str(msg))

    # 3. A wildcard binding as well: two copies, until the specific one goes.
    audience.bind("$.Talk.*")
    rosencrantz.send_msg(Announcement(SPEAK, b"Hello there"))
    want = f"<Announcement '{SPEAK}', id={mid(2)}, from={r}, data=b'Hello there'>"
    check(heard(audience), [want, want])
    audience.unbind(SPEAK)
    rosencrantz.send_msg(Announcement(SPEAK, b"Still there?"))
    check(
        heard(audience), [f"<Announcement '{SPEAK}', id={mid(3)}, from={r}, data=b'Still there?'>"]
    )

    # 4. Guildenstern answers questions addressed to him; the audience hears.
    guildenstern.bind(ASK, True)
    check(audience.find_replier(ASK), g)
    rosencrantz.send_msg(Request(ASK, b"Were you speaking to me?"))
    question = guildenstern.wait_for_msg(5)
    check(
        str(question),
        f"<Request '{ASK}', id={mid(4)}, from={r}, flags=0x3 (REQ,YOU),"
        " data=b'Were you speaking to me?'>",
    )
    show(str(question))
    check(
        heard(audience),
        [
            f"<Request '{ASK}', id={mid(4)}, from={r}, flags=0x1 (REQ),"
            " data=b'Were you speaking to me?'>"
        ],
    )
    check(guildenstern.num_unreplied_to(), 1)
    guildenstern.send_msg(reply_to(question, b"Yes, I was"))
    answer = rosencrantz.wait_for_msg(5)
    want = (
        f"<Reply '{ASK}', id={mid(5)}, to={r}, from={g}, in_reply_to={mid(4)}, data=b'Yes, I was'>"
    )
    check(str(answer), want)
    show(str(answer))
    check(heard(audience), [want])
    check(guildenstern.num_unreplied_to(), 0)

    # 5. Stateful coin tosses, always to the same Guildenstern.
    last: Message = answer
    serial = 6
    for side in (b"Heads", b"Tails", b"Heads"):
        req = stateful_request(last, ASK, b"Heads or tails?")
        check(req.to, g)
        check(rosencrantz.send_msg(req), first + serial)
        got = guildenstern.wait_for_msg(5)
        check(
            str(got),
            f"<Request '{ASK}', id={mid(serial)}, to={g}, from={r}, flags=0x3 (REQ,YOU),"
            " data=b'Heads or tails?'>",
        )
        guildenstern.send_msg(reply_to(got, side))
        last = rosencrantz.wait_for_msg(5)
        check((last.in_reply_to, last.from_, last.data), (first + serial, g, side))
        show(str(last))
        check(len(heard(audience)), 2)
        serial += 2

    # 6. Guildenstern leaves; the interloper takes his name.  The stateful
    # request no longer reaches the replier it was meant for: EPIPE.
    guildenstern.close()
    interloper.bind(ASK, True)
    try:
        rosencrantz.send_msg(stateful_request(last, ASK, b"Heads or tails?"))
    except OSError as e:
        check(e.args[0], EPIPE)
    else:
        raise AssertionError("a stateful request to a departed replier was sent")
    check(rosencrantz.last_msg_id(), first + serial)
    check((interloper.num_messages(), audience.num_messages()), (0, 0))
    serial += 1

    # A plain request reaches the interloper.
    rosencrantz.send_msg(Request(ASK, b"Who are you?"))
    got = interloper.wait_for_msg(5)
    check((got.id, got.to, got.wants_us_to_reply()), (first + serial, 0, True))
    interloper.send_msg(reply_to(got, b"Nobody you know"))
    reply = rosencrantz.wait_for_msg(5)
    check((reply.from_, reply.in_reply_to, reply.data), (i, first + serial, b"Nobody you know"))
    show(str(reply))
    check(
        [(m.id, m.from_, m.is_reply()) for m in audience],
        [(first + serial, r, False), (first + serial + 1, i, True)],
    )
    for k in (rosencrantz, audience, interloper):
        check(k.num_messages(), 0)
        k.close()
    check(MessageId(0, 1) + 1, MessageId(0, 2))
    print("talk: OK")


main()
sys.exit(0)
