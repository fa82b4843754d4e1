# SPDX-License-Identifier: MIT
"""The talk scenario, as one test: two actors (Rosencrantz and Guildenstern),
an audience and an interloper. With a freshly loaded module the Ksock ids and
message ids are known, so the messages are checked by their str()/repr()
forms (§14.7) as well as by field."""

from __future__ import annotations

import errno
import os

from kbus import (
    Announcement,
    Ksock,
    Message,
    MessageId,
    Request,
    reply_to,
    stateful_request,
)

import kbus_raw as raw
import kbus_util as util
from kbus_util import KsockFactory, raises_errno

ASK = "$.Actor.Ask.Guildenstern"


def _heard(k: Ksock) -> list[str]:
    return [str(m) for m in util.drain(k)]


def test_talk_scenario(fresh_module: None, ksock: KsockFactory) -> None:
    rosencrantz, guildenstern, audience, interloper = ksock(), ksock(), ksock(), ksock()
    assert [
        k.ksock_id() for k in (rosencrantz, guildenstern, audience, interloper)
    ] == [
        1,
        2,
        3,
        4,
    ]

    # 1. An announcement nobody listens to: sent, and dropped.
    assert rosencrantz.send_msg(Announcement("$.Actor.Speak", b"Ahem")) == MessageId(
        0, 1
    )
    assert audience.num_messages() == 0

    # 2. The audience listens.
    audience.bind("$.Actor.Speak")
    rosencrantz.send_msg(Announcement("$.Actor.Speak", b"Ahem"))
    msg = util.one_msg(audience)
    assert str(msg) == "<Announcement '$.Actor.Speak', id=[0:2], from=1, data=b'Ahem'>"
    assert (
        repr(msg)
        == "Message('$.Actor.Speak', data=b'Ahem', from_=1, id=MessageId(0, 2))"
    )

    # 3. A wildcard binding as well: two matching bindings, two copies...
    audience.bind("$.Actor.*")
    rosencrantz.send_msg(Announcement("$.Actor.Speak", b"Hello there"))
    assert (
        _heard(audience)
        == ["<Announcement '$.Actor.Speak', id=[0:3], from=1, data=b'Hello there'>"] * 2
    )
    # ...until the specific one is unbound.
    audience.unbind("$.Actor.Speak")
    rosencrantz.send_msg(Announcement("$.Actor.Speak", b"Still there?"))
    assert _heard(audience) == [
        "<Announcement '$.Actor.Speak', id=[0:4], from=1, data=b'Still there?'>"
    ]

    # 4. Guildenstern answers questions addressed to him; the audience hears.
    guildenstern.bind(ASK, replier=True)
    assert audience.find_replier(ASK) == 2
    rosencrantz.send_msg(Request(ASK, b"Were you speaking to me?"))
    question = util.one_msg(guildenstern)
    assert str(question) == (
        f"<Request '{ASK}', id=[0:5], from=1, flags=0x3 (REQ,YOU), "
        "data=b'Were you speaking to me?'>"
    )
    heard_question = (
        f"<Request '{ASK}', id=[0:5], from=1, flags=0x1 (REQ), "
        "data=b'Were you speaking to me?'>"
    )
    assert _heard(audience) == [heard_question]
    assert guildenstern.num_unreplied_to() == 1
    guildenstern.send_msg(reply_to(question, b"Yes, I was"))
    answer = rosencrantz.wait_for_msg(5)
    assert answer is not None
    expected = (
        f"<Reply '{ASK}', id=[0:6], to=1, from=2, in_reply_to=[0:5], "
        "data=b'Yes, I was'>"
    )
    assert str(answer) == expected
    assert _heard(audience) == [expected]
    assert guildenstern.num_unreplied_to() == 0

    # 5. Stateful coin tosses, always to the same Guildenstern.
    last: Message = answer
    serial = 7
    for toss, side in enumerate((b"Heads", b"Tails", b"Heads")):
        req = stateful_request(last, ASK, b"Heads or tails?")
        assert req.to == 2
        assert rosencrantz.send_msg(req) == MessageId(0, serial)
        got = util.one_msg(guildenstern)
        assert str(got) == (
            f"<Request '{ASK}', id=[0:{serial}], to=2, from=1, flags=0x3 (REQ,YOU), "
            "data=b'Heads or tails?'>"
        ), toss
        guildenstern.send_msg(reply_to(got, side))
        last = util.one_msg(rosencrantz)
        assert (last.in_reply_to, last.from_, last.data) == (
            MessageId(0, serial),
            2,
            side,
        )
        heard_request = (
            f"<Request '{ASK}', id=[0:{serial}], to=2, from=1, flags=0x1 (REQ), "
            "data=b'Heads or tails?'>"
        )
        heard_reply = (
            f"<Reply '{ASK}', id=[0:{serial + 1}], to=1, from=2, "
            f"in_reply_to=[0:{serial}], data={side!r}>"
        )
        assert _heard(audience) == [heard_request, heard_reply]
        serial += 2

    # 6. Guildenstern leaves; the interloper takes his name. The stateful
    # request no longer reaches the replier it was meant for: EPIPE.
    guildenstern.close()
    interloper.bind(ASK, replier=True)
    with raises_errno(errno.EPIPE):
        rosencrantz.send_msg(stateful_request(last, ASK, b"Heads or tails?"))
    assert rosencrantz.last_msg_id() == MessageId(0, serial)
    assert interloper.num_messages() == 0 and audience.num_messages() == 0
    serial += 1

    # A plain request reaches the interloper.
    rosencrantz.send_msg(Request(ASK, b"Who are you?"))
    got = util.one_msg(interloper)
    assert (got.id, got.to, got.wants_us_to_reply()) == (MessageId(0, serial), 0, True)
    interloper.send_msg(reply_to(got, b"Nobody you know"))
    reply = util.one_msg(rosencrantz)
    assert (reply.from_, reply.in_reply_to, reply.data) == (
        4,
        MessageId(0, serial),
        b"Nobody you know",
    )
    heard = util.drain(audience)
    assert [(m.id, m.from_, m.is_reply()) for m in heard] == [
        (MessageId(0, serial), 1, False),
        (MessageId(0, serial + 1), 4, True),
    ]

    # Nothing else is left anywhere.
    for k in (rosencrantz, audience, interloper):
        assert k.num_messages() == 0
    pid = os.getpid()
    assert util.binding_lines(0) == [
        util.binding_line(0, 4, pid, True, ASK),
        util.binding_line(0, 3, pid, False, "$.Actor.*"),
    ]
    assert raw.nummsgs(rosencrantz.fileno()) == 0
