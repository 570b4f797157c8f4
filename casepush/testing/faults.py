"""Faults a plugin's tests can load beside the plugin."""

import asyncio

from casepush import hookimpl
from casepush.connectors import PushedIncident


class KilledAfterCreate:
    """A plugin object for tests of crash recovery (``find_incident``): the first push that makes or
    updates an incident dies right after it, before casepush saves it, as a killed process would.

    Load a new one per app: ``casepush_plugins`` returning ``[your_plugin, KilledAfterCreate()]``.
    """

    def __init__(self) -> None:
        self.armed = True

    @hookimpl
    def after_push(self, incident: PushedIncident | None) -> None:
        if self.armed and incident is not None:
            self.armed = False
            raise asyncio.CancelledError
