# SPDX-License-Identifier: MIT
"""KBUS for MicroPython (unix port): the ``kbus`` module of the CPython
package, with the same names and message formats, over ``ffi`` and ``struct``
instead of ``ctypes`` and ``fcntl``.  Differences: package/kbus/micropython/README.md.

    from kbus import Ksock, Message, Request, reply_to
    k = Ksock(0)
    k.bind('$.Actor.Ask', True)
    msg = k.wait_for_msg()
    k.send_msg(reply_to(msg, b'Yes'))
"""

from kbus import common as abi
from kbus.ksock import Ksock, read_bindings
from kbus.messages import (
    MSG_HEADER_LEN,
    Announcement,
    Message,
    MessageId,
    OrigFrom,
    Reply,
    Request,
    Status,
    calc_entire_message_len,
    calc_padded_data_len,
    calc_padded_name_len,
    reply_to,
    split_replier_bind_event_data,
    stateful_request,
)

__version__ = "1.0.0"
__all__ = [
    "abi",
    "Ksock",
    "read_bindings",
    "MSG_HEADER_LEN",
    "Announcement",
    "Message",
    "MessageId",
    "OrigFrom",
    "Reply",
    "Request",
    "Status",
    "calc_entire_message_len",
    "calc_padded_data_len",
    "calc_padded_name_len",
    "reply_to",
    "split_replier_bind_event_data",
    "stateful_request",
]
