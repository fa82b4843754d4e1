# SPDX-License-Identifier: MIT
"""The STB message names and payload format (docs/stb-messages.md).

Payloads are short UTF-8 lines of ``key=value`` fields separated by single
spaces, e.g. ``channel=101 tag=a7``:

* a key is 1 to 32 characters of ``[a-z0-9_]``, starting with a letter, and
  appears at most once;
* a value is any UTF-8 text in which ``%``, space, ``=`` and control
  characters (below 0x20, and 0x7f) are written as ``%XX`` (the byte in
  upper-case hex), so a payload never contains a newline;
* an empty payload (no data) has no fields; a payload is at most
  :data:`MAX_PAYLOAD` bytes.

Every reply carries ``status=ok`` or ``status=error`` with ``error=<code>``
(one of :data:`ERROR_CODES`) and a human-readable ``detail``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from typing import Union

from kbus import MessageId

# -- names ----------------------------------------------------------------------

STB = "$.STB."
DECODER = "$.STB.Decoder."
DECODER_COMMANDS = ("Tune", "Play", "Pause", "Stop", "Status")
DECODER_EVENT = "$.STB.Decoder.Event."
DECODER_EVENTS = ("Started", "Tuned", "Playing", "Paused", "Stopped")
RECORDER = "$.STB.Recorder."
RECORDER_COMMANDS = ("Start", "Stop", "List", "Status")
LOGGER_COUNTERS = "$.STB.Logger.Counters"
CLIENT_STATUS = "$.STB.Client.Status"
KBUS_PREFIX = "$.KBUS."

MAX_PAYLOAD = 1024
MAX_KEY_LEN = 32

# Reply error codes
E_BAD_PAYLOAD = "bad-payload"  # not UTF-8 key=value text
E_BAD_ARGUMENT = "bad-argument"  # a field has a bad value, or is not expected
E_MISSING_ARGUMENT = "missing-argument"
E_BAD_STATE = "bad-state"  # the command makes no sense in the current state
E_NO_CHANNEL = "no-channel"  # nothing tuned yet
E_NO_SUCH_RECORDING = "no-such-recording"
E_BUSY = "busy"  # too many recordings
E_UNKNOWN_COMMAND = "unknown-command"
E_NOT_PERMITTED = "not-permitted"  # the sender may not do this (its credentials)
E_INTERNAL = "internal"  # a bug: the service logged it and goes on
ERROR_CODES = (
    E_BAD_PAYLOAD,
    E_BAD_ARGUMENT,
    E_MISSING_ARGUMENT,
    E_BAD_STATE,
    E_NO_CHANNEL,
    E_NO_SUCH_RECORDING,
    E_BUSY,
    E_UNKNOWN_COMMAND,
    E_NOT_PERMITTED,
    E_INTERNAL,
)

MIN_CHANNEL = 1
MAX_CHANNEL = 9999

Fields = dict[str, str]
Value = Union[str, int, bool, None]

_KEY_RE = re.compile(r"[a-z][a-z0-9_]{0,31}\Z")
_ESCAPE_BYTES = frozenset(b"% =\x7f") | frozenset(range(0x20))
_HEX = "0123456789ABCDEF"


class PayloadError(ValueError):
    """A payload that does not follow the format (error code bad-payload)."""


class FieldError(ValueError):
    """A well-formed payload with a bad field: carries the reply error code."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


# -- the codec --------------------------------------------------------------------


def escape(text: str) -> str:
    """A value as it appears in a payload (``%XX`` for the special bytes)."""
    raw = text.encode("utf-8")
    if not any(b in _ESCAPE_BYTES for b in raw):
        return text
    out = bytearray()
    for b in raw:
        if b in _ESCAPE_BYTES:
            out += b"%" + _HEX[b >> 4].encode() + _HEX[b & 15].encode()
        else:
            out.append(b)
    return out.decode("utf-8")


def unescape(text: str) -> str:
    """The inverse of :func:`escape`; PayloadError for a bad ``%`` sequence."""
    if "%" not in text:
        return text
    raw = text.encode("utf-8")
    out = bytearray()
    i = 0
    while i < len(raw):
        b = raw[i]
        if b == 0x25:  # %
            pair = raw[i + 1 : i + 3]
            if len(pair) != 2 or any(c not in b"0123456789ABCDEF" for c in pair):
                raise PayloadError(f"bad escape {raw[i : i + 3]!r}")
            out.append(int(pair, 16))
            i += 3
        else:
            out.append(b)
            i += 1
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadError(f"escaped bytes are not UTF-8: {exc}") from None


def _text(value: Value) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def encode(fields: Mapping[str, Value]) -> bytes:
    """``{"channel": 5, "tag": "a b"}`` -> ``b"channel=5 tag=a%20b"``.

    Fields whose value is None are left out; keys must be valid; the result
    must not exceed :data:`MAX_PAYLOAD` bytes (ValueError otherwise)."""
    parts = []
    for key, value in fields.items():
        if value is None:
            continue
        if not _KEY_RE.match(key):
            raise ValueError(f"bad payload key {key!r}")
        parts.append(f"{key}={escape(_text(value))}")
    data = " ".join(parts).encode("utf-8")
    if len(data) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(data)} bytes is longer than {MAX_PAYLOAD}")
    return data


def decode(data: bytes | None) -> Fields:
    """The fields of a payload (``{}`` for none); PayloadError if malformed."""
    if not data:
        return {}
    if len(data) > MAX_PAYLOAD:
        raise PayloadError(f"payload of {len(data)} bytes is longer than {MAX_PAYLOAD}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadError(f"payload is not UTF-8: {exc}") from None
    fields: Fields = {}
    for token in text.split(" "):
        key, sep, value = token.partition("=")
        if not sep:
            raise PayloadError(f"field {token!r} is not key=value")
        if not _KEY_RE.match(key):
            raise PayloadError(f"bad key {key!r}")
        if key in fields:
            raise PayloadError(f"key {key!r} given twice")
        if any(ord(c) < 0x20 or c == "\x7f" for c in value):
            raise PayloadError(f"value of {key!r} has an unescaped control character")
        fields[key] = unescape(value)
    return fields


# -- field access -------------------------------------------------------------------


def check_keys(fields: Fields, allowed: Iterable[str]) -> None:
    """FieldError(bad-argument) if ``fields`` has a key outside ``allowed``
    (``tag`` is always allowed: clients use it to mark their requests)."""
    extra = sorted(set(fields) - set(allowed) - {"tag"})
    if extra:
        raise FieldError(E_BAD_ARGUMENT, f"unexpected field {extra[0]!r}")


def get_int(fields: Fields, key: str, low: int, high: int, default: int | None = None) -> int:
    """A decimal integer field in [low, high]; ``default`` if absent (or
    FieldError(missing-argument) without a default)."""
    text = fields.get(key)
    if text is None:
        if default is None:
            raise FieldError(E_MISSING_ARGUMENT, f"{key} is required")
        return default
    if not text.isdigit() or not text.isascii() or len(text) > 10:
        raise FieldError(E_BAD_ARGUMENT, f"{key}={text!r} is not a number")
    value = int(text)
    if not low <= value <= high:
        raise FieldError(E_BAD_ARGUMENT, f"{key}={value} is not in {low}..{high}")
    return value


def get_flag(fields: Fields, key: str, default: bool) -> bool:
    text = fields.get(key)
    if text is None:
        return default
    if text not in ("0", "1"):
        raise FieldError(E_BAD_ARGUMENT, f"{key}={text!r} is not 0 or 1")
    return text == "1"


def ok(**fields: Value) -> dict[str, Value]:
    """Reply fields for a success."""
    return {"status": "ok", **fields}


def error(code: str, detail: str, **fields: Value) -> dict[str, Value]:
    """Reply fields for a failure."""
    return {"status": "error", "error": code, "detail": detail, **fields}


# -- ids --------------------------------------------------------------------------


def format_id(mid: MessageId | None) -> str:
    """``MessageId(0, 12)`` -> ``"0:12"``; None -> ``"-"``."""
    if mid is None:
        return "-"
    return f"{mid.network_id}:{mid.serial_num}"


def parse_id(text: str) -> tuple[int, int]:
    """``"0:12"`` -> ``(0, 12)``; ValueError if malformed."""
    net, sep, serial = text.partition(":")
    if not sep or not net.isdigit() or not serial.isdigit():
        raise ValueError(f"bad message id {text!r}")
    return int(net), int(serial)


# -- the command journal --------------------------------------------------------------


class CommandJournal:
    """A count and running digest of a sequence of decoder commands.

    The decoder keeps one over the requests it answers, the recorder one over
    the decoder requests it observes as a listener; KBUS delivers them to both
    in the same (bus) order, so the two agree.  Each entry is the request's
    id, name and payload bytes.  A ``$.STB.Decoder.Status`` request with
    ``journal=reset`` empties both journals at the same point of the sequence
    (then is counted as their first entry).
    """

    def __init__(self) -> None:
        self.count = 0
        self._hash = hashlib.sha1()

    def reset(self) -> None:
        self.count = 0
        self._hash = hashlib.sha1()

    def add(self, mid: MessageId | None, name: str, data: bytes | None) -> None:
        self.count += 1
        self._hash.update(f"{format_id(mid)} {name} ".encode())
        self._hash.update(data or b"")
        self._hash.update(b"\n")

    @property
    def digest(self) -> str:
        return self._hash.hexdigest()[:16]


def command_of(name: str, prefix: str, commands: Iterable[str]) -> str | None:
    """``("$.STB.Decoder.Tune", DECODER, DECODER_COMMANDS)`` -> ``"Tune"``;
    None if the name is not one of those commands."""
    if not name.startswith(prefix):
        return None
    rest = name[len(prefix) :]
    return rest if rest in commands else None
