"""casepush's kit for testing connector plugins (a pytest plugin, loaded through ``pytest11``).

Fixtures (see ``casepush.testing.plugin``): ``casepush_plugins`` (override it to choose the plugins),
``casepush_settings``, ``casepush`` (a client of a running app, as the superuser ``elastic``) and
``fake_service`` (a local HTTP server standing in for the external system). ``ConnectorContract``
(``casepush.testing.contract``) is a suite any connector type can run against its own fake server;
``KilledAfterCreate``, a fault to load beside a plugin to test its crash recovery.
"""

from casepush.testing.client import PASSWORD, Api, basic_auth, case_body, configuration_body, ok
from casepush.testing.fake import FakeService, Recorded
from casepush.testing.faults import KilledAfterCreate

__all__ = [
    "PASSWORD",
    "Api",
    "FakeService",
    "KilledAfterCreate",
    "Recorded",
    "basic_auth",
    "case_body",
    "configuration_body",
    "ok",
]
