"""casepush's kit for testing connector plugins (a pytest plugin, loaded through ``pytest11``).

Fixtures (see ``casepush.testing.plugin``): ``casepush_plugins`` (override it to choose the plugins),
``casepush_settings``, ``casepush`` (a client of a running app, as the superuser ``elastic``) and
``fake_service`` (a local HTTP server standing in for the external system). ``ConnectorContract``
(``casepush.testing.contract``) is a suite any connector type can run against its own fake server;
``KilledAfterCreate``, a fault to load beside a plugin to test its crash recovery.

The names below are imported when first used: pytest imports this package (for its plugin module) in
every run of every project that has casepush installed, and that must not load the server.
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from casepush.testing.client import PASSWORD, Api, basic_auth, case_body, configuration_body, ok
    from casepush.testing.fake import FakeService, Recorded
    from casepush.testing.faults import KilledAfterCreate

#: Each name of ``__all__``, and the module it comes from.
_SOURCES = {
    "PASSWORD": "casepush.testing.client",
    "Api": "casepush.testing.client",
    "basic_auth": "casepush.testing.client",
    "case_body": "casepush.testing.client",
    "configuration_body": "casepush.testing.client",
    "ok": "casepush.testing.client",
    "FakeService": "casepush.testing.fake",
    "Recorded": "casepush.testing.fake",
    "KilledAfterCreate": "casepush.testing.faults",
}

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


def __getattr__(name: str) -> Any:
    if name not in _SOURCES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_SOURCES[name]), name)
    globals()[name] = value  # once: later lookups find it without this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
