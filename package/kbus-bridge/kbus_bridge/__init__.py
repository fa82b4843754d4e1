# SPDX-License-Identifier: MIT
"""kbus-bridge: KBUS buses of several boxes joined through an MQTT v5 broker.

``kbus_bridge.protocol`` names the bridges' messages; :func:`is_status`
tells a status answer (``$.KBUS.*`` from KBUS, ``$.Bridge.*`` from a
bridge) from a reply.  docs/bridge.md describes the bridge.
"""

from .protocol import BRIDGE_PREFIX as BRIDGE_PREFIX
from .protocol import is_status as is_status

__version__ = "1.0.0"
