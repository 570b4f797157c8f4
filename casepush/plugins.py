"""The plugin host: loads connector plugins from the ``casepush`` entry points and calls their hooks."""

import inspect
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import Distribution, entry_points
from typing import Any

import msgspec
import pluggy

from casepush import hookspecs
from casepush.connectors import (
    CaseForPush,
    CaseState,
    Changes,
    Connector,
    ConnectorError,
    ConnectorType,
    Inbound,
    InboundCall,
    PushedIncident,
)
from casepush.http import OutboundClient

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "casepush"


class PluginError(Exception):
    """A plugin that cannot be loaded as it is (a hook without a spec, a type registered twice...)."""


async def await_me_maybe(value: Any) -> Any:
    """A hook's result, awaited when the hook was a coroutine function (as Datasette does)."""
    return await value if inspect.isawaitable(value) else value


@dataclass(frozen=True)
class InstalledPlugin:
    name: str
    version: str | None
    connector_types: list[str]


@dataclass
class PluginHost:
    """The plugin manager, and which plugin provides each connector type (``load_plugins`` makes it).

    Hooks that call out get the outbound client labelled with the connector's type, so that the
    metrics count each call under the type that made it.
    """

    pm: pluggy.PluginManager
    distributions: dict[str, Distribution | None]
    types: dict[str, ConnectorType]
    _owners: dict[str, object]
    _callers: dict[tuple[str, str], Any] = field(default_factory=dict)

    def installed(self) -> list[InstalledPlugin]:
        """Every loaded plugin that implements a hook, with its version and connector types."""
        found = []
        for name, plugin in sorted(self.pm.list_name_plugin()):
            dist = self.distributions.get(name)
            provided = sorted(t for t, owner in self._owners.items() if owner is plugin)
            found.append(
                InstalledPlugin(dist.name if dist else name, dist.version if dist else None, provided)
            )
        return found

    def _owner_hook(self, connector: Connector, name: str) -> Any:
        """A hook caller that reaches only the plugin which registered the connector's type."""
        key = (name, connector.type.id)
        if key not in self._callers:
            owner = self._owners[connector.type.id]
            others = [plugin for plugin in self.pm.get_plugins() if plugin is not owner]
            self._callers[key] = self.pm.subset_hook_caller(name, remove_plugins=others)
        return self._callers[key]

    async def transform_case(
        self, connector: Connector, case: CaseForPush
    ) -> msgspec.Struct | dict[str, Any]:
        return await await_me_maybe(
            self._owner_hook(connector, "transform_case")(connector=connector, case=case)
        )

    async def push_to_service(
        self,
        connector: Connector,
        params: msgspec.Struct,
        http: OutboundClient,
        state: CaseState | None = None,
    ) -> PushedIncident:
        """Push through the type's plugin, with every plugin told before and after."""
        http = http.for_connector_type(connector.type.id)
        await self._broadcast("before_push", connector=connector, params=params)
        try:
            hook = self._owner_hook(connector, "push_to_service")
            incident = await await_me_maybe(hook(connector=connector, params=params, http=http, state=state))
        except ConnectorError as exc:
            await self._broadcast(
                "after_push", connector=connector, params=params, incident=None, error=exc.message
            )
            raise
        await self._broadcast("after_push", connector=connector, params=params, incident=incident, error=None)
        return incident

    async def push_case_state(
        self, connector: Connector, external_id: str, state: CaseState, http: OutboundClient
    ) -> None:
        http = http.for_connector_type(connector.type.id)
        hook = self._owner_hook(connector, "push_case_state")
        await await_me_maybe(hook(connector=connector, external_id=external_id, state=state, http=http))

    async def parse_inbound(
        self, connector: Connector, call: InboundCall, options: Any, http: OutboundClient
    ) -> Inbound:
        http = http.for_connector_type(connector.type.id)
        hook = self._owner_hook(connector, "parse_inbound")
        return await await_me_maybe(hook(connector=connector, call=call, options=options, http=http))

    async def fetch_changes(
        self,
        connector: Connector,
        incident_ids: list[str],
        cursor: str | None,
        since: str,
        options: Any,
        http: OutboundClient,
    ) -> Changes:
        http = http.for_connector_type(connector.type.id)
        hook = self._owner_hook(connector, "fetch_changes")
        found = hook(
            connector=connector,
            incident_ids=incident_ids,
            cursor=cursor,
            since=since,
            options=options,
            http=http,
        )
        return await await_me_maybe(found)

    def implements(self, connector_type: ConnectorType, hook_name: str) -> bool:
        """Whether the plugin that registered the type implements the hook."""
        owner = self._owners[connector_type.id]
        return any(impl.plugin is owner for impl in getattr(self.pm.hook, hook_name).get_hookimpls())

    async def find_incident(
        self, connector: Connector, case_id: str, http: OutboundClient
    ) -> PushedIncident | None:
        http = http.for_connector_type(connector.type.id)
        hook = self._owner_hook(connector, "find_incident")
        return await await_me_maybe(hook(connector=connector, case_id=case_id, http=http))

    async def execute_sub_action(
        self, connector: Connector, sub_action: str, params: msgspec.Struct, http: OutboundClient
    ) -> Any:
        http = http.for_connector_type(connector.type.id)
        hook = self._owner_hook(connector, "execute_sub_action")
        return await await_me_maybe(
            hook(connector=connector, sub_action=sub_action, params=params, http=http)
        )

    async def _broadcast(self, name: str, **kwargs: Any) -> None:
        """Call a hook on every plugin; a listener that fails is logged and does not stop the push."""
        for impl in reversed(getattr(self.pm.hook, name).get_hookimpls()):
            try:
                await await_me_maybe(impl.function(*(kwargs[arg] for arg in impl.argnames)))
            except Exception:
                log.exception("plugin %s failed in %s", impl.plugin_name, name)


async def load_plugins(allowed: Sequence[str] | None = None, extra: Iterable[object] = ()) -> PluginHost:
    """Load the plugins installed under the ``casepush`` entry-point group (only those named in
    ``allowed``, by distribution or entry-point name, when given) and ``extra`` ones given as objects,
    and register their connector types.

    A hook implementation without a spec is refused here, at start, not at its first call. Loading is
    async because ``register_connector_types`` may be, like any hook.
    """
    pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
    pm.add_hookspecs(hookspecs)
    distributions: dict[str, Distribution | None] = {}
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        dist = entry_point.dist
        if (
            allowed is not None
            and entry_point.name not in allowed
            and (dist is None or dist.name not in allowed)
        ):
            continue
        if pm.get_plugin(entry_point.name) is not None:
            continue
        _register(pm, entry_point.load(), entry_point.name)
        distributions[entry_point.name] = dist
    for plugin in extra:
        _register(pm, plugin, None)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(str(exc)) from None
    types, owners = await _connector_types(pm)
    return PluginHost(pm, distributions, types, owners)


async def _connector_types(pm: pluggy.PluginManager) -> tuple[dict[str, ConnectorType], dict[str, object]]:
    """Each registered connector type by id, and the plugin that registered it."""
    types: dict[str, ConnectorType] = {}
    owners: dict[str, object] = {}
    for impl in pm.hook.register_connector_types.get_hookimpls():
        registered: list[ConnectorType] | None = await await_me_maybe(impl.function())
        for connector_type in registered or []:
            if connector_type.id in types:
                raise PluginError(
                    f"connector type {connector_type.id} is registered by two plugins:"
                    f" {pm.get_name(owners[connector_type.id])} and {impl.plugin_name}"
                )
            types[connector_type.id] = connector_type
            owners[connector_type.id] = impl.plugin
    return types, owners


def _register(pm: pluggy.PluginManager, plugin: object, name: str | None) -> None:
    try:
        pm.register(plugin, name=name)
    except pluggy.PluginValidationError as exc:
        raise PluginError(str(exc)) from None
