# SPDX-License-Identifier: MIT
"""STB services on KBUS: decoder, recorder, logger, remote control and supervisor.

The message names, payload format and request/reply contracts are in
docs/stb-messages.md; :mod:`stb.protocol` is their code.
"""

__version__ = "1.0.0"
