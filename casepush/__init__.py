"""casepush: Kibana's Cases API and case push, self-hosted."""

import pluggy

__version__ = "0.1.0"

#: Marker for plugin hook implementations: ``from casepush import hookimpl``.
hookimpl = pluggy.HookimplMarker("casepush")
