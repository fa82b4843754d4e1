# SPDX-License-Identifier: MIT
"""KBUS message names: validation, wildcard matching, and their MQTT topics.

KBUS names are ``$.`` followed by dot-separated words of alphanumerics
(specification §3.1), optionally ending in the wildcard ``.*`` (one or more
further levels) or ``.%`` (exactly one further level).  The kernel's
"alphanumeric" also accepts the Latin-1 letters 0xC0-0xFF (but 0xD7 and
0xF7), so names are handled here as Latin-1 text: one character per byte.

The topic of a name is the name with every ``.`` made a ``/``:
``$.STB.Decoder.Tune`` is ``$/STB/Decoder/Tune``.  KBUS words never contain
``/``, ``+``, ``#`` or NUL, so the mapping is reversible, and a name's
topic levels are its words (Latin-1 letters become the same characters in
the topic's UTF-8).  A wildcard pattern becomes an MQTT topic filter:
``$.A.*`` is ``$/A/#`` and ``$.A.%`` is ``$/A/+``.  (MQTT's ``#`` also
matches the parent level ``$/A``; whoever subscribes with such a filter
checks the name with :func:`matches` as well.)
"""

from __future__ import annotations

from collections.abc import Iterable

MAX_NAME_LEN = 1000
_EXCLUDED_LATIN1 = (0xD7, 0xF7)


def _is_alnum(ch: str) -> bool:
    """The kernel's isalnum() on one Latin-1 byte."""
    code = ord(ch)
    if code < 0x80:
        return ch.isascii() and ch.isalnum()
    return 0xC0 <= code <= 0xFF and code not in _EXCLUDED_LATIN1


def as_text(name: str | bytes) -> str:
    """A name as Latin-1 text (bytes, or a str as the kbus package decodes
    names: UTF-8 with surrogate escapes)."""
    if isinstance(name, bytes):
        return name.decode("latin-1")
    return name.encode("utf-8", "surrogateescape").decode("latin-1")


def as_bytes(name: str) -> bytes:
    """The bytes of a Latin-1 name text."""
    return name.encode("latin-1")


def is_wildcard(name: str) -> bool:
    return len(name) >= 2 and name[-2] == "." and name[-1] in "*%"


def check_name(name: str, wildcard: bool = False) -> None:
    """Raise ValueError unless ``name`` is a valid KBUS name (a wildcard only
    if ``wildcard``), by the kernel's rules (§3.1)."""
    if len(name) > MAX_NAME_LEN:
        raise ValueError(f"name longer than {MAX_NAME_LEN} bytes: {name[:40]!r}...")
    if len(name) < 3 or not name.startswith("$."):
        raise ValueError(f"not a KBUS name (must start with '$.'): {name!r}")
    body = name
    if is_wildcard(name):
        if not wildcard:
            raise ValueError(f"a wildcard is not allowed here: {name!r}")
        body = name[:-2]
    if body.endswith("."):
        raise ValueError(f"not a KBUS name (empty word): {name!r}")
    previous = "."
    for ch in body[2:]:
        if ch == ".":
            if previous == ".":
                raise ValueError(f"not a KBUS name (empty word): {name!r}")
        elif not _is_alnum(ch):
            raise ValueError(f"not a KBUS name ({ch!r} is not alphanumeric): {name!r}")
        previous = ch


def matches(pattern: str, name: str) -> bool:
    """True if the binding ``pattern`` (exact or wildcard) matches the
    message name ``name`` (§3.3)."""
    if not is_wildcard(pattern):
        return pattern == name
    stem = pattern[:-1]  # up to and including the dot before the wildcard
    if len(name) <= len(stem) or not name.startswith(stem):
        return False
    return pattern[-1] == "*" or "." not in name[len(stem) :]


def covers(pattern: str, binding: str) -> bool:
    """True if every name the binding ``binding`` matches is matched by
    ``pattern`` (so a replier bound to ``binding`` is within ``pattern``)."""
    if not is_wildcard(binding):
        return matches(pattern, binding)
    if not is_wildcard(pattern):
        return False
    stem, bstem = pattern[:-1], binding[:-1]
    if pattern[-1] == "*":
        return bstem.startswith(stem)
    # pattern X.% : only X.% itself (one level below X)
    return binding[-1] == "%" and bstem == stem


def rank(binding: str) -> tuple[int, int]:
    """How KBUS prefers replier bindings that match one name (§7.3, with the
    deeper ``*`` winning as this implementation does): higher is better."""
    if not is_wildcard(binding):
        return (2, len(binding))
    if binding[-1] == "%":
        return (1, len(binding))
    return (0, len(binding))


def best_binding(name: str, bindings: Iterable[str]) -> str | None:
    """The binding among ``bindings`` (an iterable of names) that KBUS would
    choose as the replier for ``name``, or None if none matches."""
    best: str | None = None
    for binding in bindings:
        if matches(binding, name) and (best is None or rank(binding) > rank(best)):
            best = binding
    return best


def name_to_topic(name: str) -> str:
    """``$.A.B`` -> ``$/A/B`` (a message name, not a wildcard)."""
    return name.replace(".", "/")


def topic_to_name(levels: str) -> str:
    """``$/A/B`` -> ``$.A.B``; ValueError if it is not a valid name."""
    name = levels.replace("/", ".")
    check_name(name)
    return name


def pattern_to_filter(pattern: str) -> str:
    """``$.A.*`` -> ``$/A/#``, ``$.A.%`` -> ``$/A/+``, ``$.A`` -> ``$/A``."""
    if not is_wildcard(pattern):
        return name_to_topic(pattern)
    return name_to_topic(pattern[:-2]) + ("/#" if pattern[-1] == "*" else "/+")
