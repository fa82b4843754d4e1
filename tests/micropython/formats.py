# SPDX-License-Identifier: MIT
"""Messages built, printed and encoded by either interpreter: str(), repr()
and the entire binary form (hex) of every kind of message, the errors of
reply_to/stateful_request, and messages decoded from those bytes.  The
guest test runs it under micropython and python3 and compares the outputs.
"""

from kbus import (
    Announcement,
    Message,
    MessageId,
    OrigFrom,
    Reply,
    Request,
    Status,
    reply_to,
    stateful_request,
)


def show(m: Message) -> None:
    raw = m.to_bytes()
    print(str(m))
    print(repr(m))
    print(len(raw), m.total_length(), raw.hex())
    back = Message.from_bytes(raw)
    print(back == m, str(back.cast()), repr(back.cast()))


def error(f: object, *args: object) -> None:
    try:
        f(*args)
    except (ValueError, TypeError, NotImplementedError) as e:
        print(type(e).__name__, e)
    else:
        print("no error")


show(Announcement("$.Actor.Speak", b"Ahem"))
show(Announcement("$.A", "text data", to=3, from_=4, id=MessageId(0, 9)))
show(Request("$.Actor.Ask", b"Were you speaking to me?", id=MessageId(1, 2)))
show(Request("$.Q", None, to=7, final_to=OrigFrom(2, 3), flags=0x80000008))
show(Message("$.R", b"\x00\xff odd bytes", in_reply_to=MessageId(0, 5), to=1, from_=2))
show(Message("$.KBUS.Replier.GoneAway", in_reply_to=MessageId(0, 9), to=3, flags=4))
show(
    Message(
        "$.KBUS.ReplierBindEvent",
        b"\x01\x00\x00\x00\x05\x00\x00\x00\x06\x00\x00\x00$.Fred\x00\x00",
        flags=4,
    )
)
show(Message("$.M", b"x" * 13, orig_from=OrigFrom(1, 2), final_to=OrigFrom(3, 4), flags=0x303))

q = Message.from_bytes(Message("$.Q", b"ask", flags=3, from_=4, id=MessageId(0, 5)).to_bytes())
r = reply_to(q, b"Yes")
show(r)
show(stateful_request(Message.from_bytes(r.to_bytes()), "$.Q.Again", b"more"))
show(stateful_request(Request("$.S", to=9, final_to=OrigFrom(1, 1)), "$.S.Next"))
show(Reply("$.Z", b"z", in_reply_to=MessageId(0, 1)))

error(reply_to, Request("$.Q", b"not ours"))
error(stateful_request, Announcement("$.A"), "$.B")
error(Reply, "$.Z", b"z")
error(Message, "no.dollar")
error(Message, "$.")
error(Status, "$.KBUS.X")
error(Announcement("$.A").set_want_reply)
print(MessageId(0, 1) + 2, MessageId(0, 1) < MessageId(0, 2), OrigFrom(1, 2) == OrigFrom(1, 2))
print(repr(MessageId(3, 4)), str(OrigFrom(5, 6)))
