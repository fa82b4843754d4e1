# SPDX-License-Identifier: MIT
"""The message classes of the ``kbus`` module (as ``kbus.messages`` of the
CPython package): those of ``kbus/core.py``, the message core shared with the
CPython package."""

from kbus._native import MessageId, OrigFrom
from kbus.common import split_replier_bind_event_data
from kbus.core import (
    MSG_HEADER_LEN,
    Announcement,
    Message,
    Reply,
    Request,
    Status,
    calc_entire_message_len,
    calc_padded_data_len,
    calc_padded_name_len,
    reply_to,
    stateful_request,
)

__all__ = [
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
