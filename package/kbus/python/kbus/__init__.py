# SPDX-License-Identifier: MIT
"""KBUS - a simple kernel-mediated message bus for Linux.

This is the pure-Python binding.  It re-exports the public names of
:mod:`kbus.ksock` (``Ksock``, ``read_bindings``, the ctypes argument
structures) and :mod:`kbus.messages` (``Message`` and its subclasses,
``MessageId``, ``OrigFrom``, ``reply_to``, ``stateful_request`` and the
helper functions); ``from kbus import *`` imports exactly those.  ABI
constants (flag bits, guards, synthetic message names, ioctl numbers) are in
:mod:`kbus.abi`; :mod:`kbus.aio` is the asyncio interface.

Typical use::

    from kbus import *
    with Ksock(0) as sender, Ksock(0) as replier:
        replier.bind('$.Q', replier=True)
        req_id = sender.send_msg(Request('$.Q', b'hello'))
        req = replier.read_next_msg()
        replier.send_msg(reply_to(req, b'hi'))
        rep = sender.wait_for_msg(1.0)
"""

from kbus import abi as abi
from kbus.ksock import BindStruct, Ksock, ReplierStruct, SendResultStruct, read_bindings
from kbus.messages import (
    MSG_HEADER_LEN,
    Announcement,
    Message,
    MessageId,
    OrigFrom,
    Reply,
    Request,
    Status,
    c_data_as_bytes,
    calc_entire_message_len,
    calc_padded_data_len,
    calc_padded_name_len,
    hexdata,
    hexify,
    message_from_parts,
    reply_to,
    split_replier_bind_event_data,
    stateful_request,
)

# the names of the original binding (kbus.ksock.__all__ + kbus.messages.__all__)
__all__ = [
    "Ksock",
    "BindStruct",
    "ReplierStruct",
    "SendResultStruct",
    "read_bindings",
    "MessageId",
    "OrigFrom",
    "Message",
    "Announcement",
    "Request",
    "Reply",
    "Status",
    "reply_to",
    "stateful_request",
    "split_replier_bind_event_data",
    "hexdata",
    "hexify",
    "c_data_as_bytes",
    "calc_padded_name_len",
    "calc_padded_data_len",
    "calc_entire_message_len",
    "message_from_parts",
    "MSG_HEADER_LEN",
]

__version__ = "1.0.0"
