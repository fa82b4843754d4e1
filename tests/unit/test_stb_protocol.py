# SPDX-License-Identifier: MIT
"""Host unit tests of the STB payload codec and helpers (stb.protocol)."""

from __future__ import annotations

import pytest
from stb import protocol
from stb.protocol import CommandJournal, FieldError, PayloadError

from kbus import MessageId


@pytest.mark.parametrize(
    ("fields", "data"),
    [
        ({}, b""),
        ({"channel": 5}, b"channel=5"),
        ({"channel": 5, "tag": "a1"}, b"channel=5 tag=a1"),
        ({"flag": True, "other": False}, b"flag=1 other=0"),
        ({"skip": None, "x": "y"}, b"x=y"),
        ({"text": "a b"}, b"text=a%20b"),
        ({"text": "50%=half"}, b"text=50%25%3Dhalf"),
        ({"text": "line\nnext\ttab\x7f"}, b"text=line%0Anext%09tab%7F"),
        ({"name": "$.KBUS.Replier.GoneAway"}, b"name=$.KBUS.Replier.GoneAway"),
        ({"text": "caf\u00e9 \u2603"}, "text=caf\u00e9%20\u2603".encode()),
    ],
)
def test_encode_and_decode_are_inverse(fields: dict[str, protocol.Value], data: bytes) -> None:
    assert protocol.encode(fields) == data
    expected = {
        k: ("1" if v is True else "0" if v is False else str(v))
        for k, v in fields.items()
        if v is not None
    }
    assert protocol.decode(data) == expected
    assert protocol.decode(None) == {}


def test_every_byte_value_round_trips() -> None:
    text = "".join(chr(c) for c in range(1, 0x180))
    assert protocol.decode(protocol.encode({"v": text})) == {"v": text}
    assert b"\n" not in protocol.encode({"v": text})
    assert b" " not in protocol.encode({"v": text})


@pytest.mark.parametrize(
    "data",
    [
        b"novalue",
        b"=5",
        b"Channel=5",
        b"9x=1",
        b"a-b=1",
        b"k" * 33 + b"=1",
        b"channel=5 channel=6",
        b"channel=5  tag=1",
        b" channel=5",
        b"channel=5 ",
        b"x=%",
        b"x=%4",
        b"x=%zz",
        b"x=%4g",
        b"x=%ff",  # lower-case hex is not the format
        b"x=%FF",  # escaped bytes that are not UTF-8
        b"x=a\tb",
        b"x=a\nb",
        b"\xff\xfe",
        b"x=" + b"a" * protocol.MAX_PAYLOAD,
    ],
)
def test_malformed_payloads_are_refused(data: bytes) -> None:
    with pytest.raises(PayloadError):
        protocol.decode(data)


def test_encode_refuses_bad_keys_and_long_payloads() -> None:
    with pytest.raises(ValueError):
        protocol.encode({"Bad": 1})
    with pytest.raises(ValueError):
        protocol.encode({"x": "a" * protocol.MAX_PAYLOAD})


def test_values_may_contain_equals_signs_once_escaped_and_raw() -> None:
    assert protocol.decode(b"expr=a=b") == {"expr": "a=b"}


def test_field_getters() -> None:
    fields = {"n": "42", "big": "123456789012", "neg": "-1", "flag": "1", "no": "0", "x": "٣"}
    assert protocol.get_int(fields, "n", 1, 100) == 42
    assert protocol.get_int(fields, "absent", 1, 100, default=7) == 7
    for key, code in (
        ("absent", "missing-argument"),
        ("big", "bad-argument"),
        ("neg", "bad-argument"),
        ("x", "bad-argument"),
    ):
        with pytest.raises(FieldError) as info:
            protocol.get_int(fields, key, 1, 100)
        assert info.value.code == code
    with pytest.raises(FieldError):
        protocol.get_int({"n": "101"}, "n", 1, 100)
    assert protocol.get_flag(fields, "flag", False) is True
    assert protocol.get_flag(fields, "no", True) is False
    assert protocol.get_flag(fields, "absent", True) is True
    with pytest.raises(FieldError):
        protocol.get_flag(fields, "n", True)


def test_check_keys_allows_tag_only_beyond_the_list() -> None:
    protocol.check_keys({"channel": "1", "tag": "t"}, ("channel",))
    with pytest.raises(FieldError) as info:
        protocol.check_keys({"channel": "1", "volume": "2"}, ("channel",))
    assert info.value.code == protocol.E_BAD_ARGUMENT


def test_reply_helpers_and_ids() -> None:
    assert protocol.ok(a=1) == {"status": "ok", "a": 1}
    err = protocol.error(protocol.E_BUSY, "full")
    assert err == {"status": "error", "error": "busy", "detail": "full"}
    assert protocol.encode(err) == b"status=error error=busy detail=full"
    assert protocol.format_id(MessageId(0, 12)) == "0:12"
    assert protocol.format_id(None) == "-"
    assert protocol.parse_id("3:4") == (3, 4)
    for bad in ("3", "a:1", "1:", "-"):
        with pytest.raises(ValueError):
            protocol.parse_id(bad)
    assert protocol.command_of("$.STB.Decoder.Tune", protocol.DECODER, ("Tune",)) == "Tune"
    assert protocol.command_of("$.STB.Decoder.Event.Tuned", protocol.DECODER, ("Tune",)) is None
    assert protocol.command_of("$.STB.Recorder.Tune", protocol.DECODER, ("Tune",)) is None


def test_command_journal_depends_on_order_and_content() -> None:
    a, b = CommandJournal(), CommandJournal()
    entries = [
        (MessageId(0, 1), "$.STB.Decoder.Tune", b"channel=1"),
        (MessageId(0, 2), "$.STB.Decoder.Play", None),
    ]
    for mid, name, data in entries:
        a.add(mid, name, data)
    for mid, name, data in reversed(entries):
        b.add(mid, name, data)
    assert a.count == b.count == 2
    assert a.digest != b.digest
    c = CommandJournal()
    for mid, name, data in entries:
        c.add(mid, name, data)
    assert c.digest == a.digest
    c.reset()
    assert c.count == 0 and c.digest == CommandJournal().digest
    # no data and empty data are the same entry
    d, e = CommandJournal(), CommandJournal()
    d.add(MessageId(0, 2), "$.STB.Decoder.Play", None)
    e.add(MessageId(0, 2), "$.STB.Decoder.Play", b"")
    assert d.digest == e.digest
