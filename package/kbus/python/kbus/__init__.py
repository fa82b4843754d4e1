# SPDX-License-Identifier: MIT
"""KBUS - a simple kernel-mediated message bus for Linux.

This is the pure-Python binding.  It re-exports everything public from
:mod:`kbus.ksock` (``Ksock``, ``read_bindings``, the ctypes argument
structures) and :mod:`kbus.messages` (``Message`` and its subclasses,
``MessageId``, ``OrigFrom``, ``reply_to``, ``stateful_request`` and the
helper functions).  ABI constants (flag bits, guards, synthetic message
names, ioctl numbers) are in :mod:`kbus.abi`.

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
from kbus.ksock import *  # noqa: F403
from kbus.messages import *  # noqa: F403

__version__ = "1.0.0"
