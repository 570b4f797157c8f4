"""Kibana's Connectors (Actions) API: connectors of the installed types, their secrets sealed at rest,
the preconfigured ones read-only, and ``_execute`` through the type's plugin."""

import dataclasses
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import msgspec

from casepush.config import ConfigError, PreconfiguredConnector
from casepush.connectors import (
    CASES_FEATURE,
    PUSH_TO_SERVICE,
    Connector,
    ConnectorError,
    ConnectorType,
    InvalidConnector,
    PushedIncident,
    ValidationContext,
)
from casepush.domain import Context, new_id, now_iso
from casepush.domain.phrasing import config_schema_message, js_type
from casepush.errors import KibanaError, bad_request, conflict, forbidden, not_found
from casepush.http import OutboundClient, OutboundError
from casepush.metrics import Metrics
from casepush.plugins import PluginHost
from casepush.security.authz import ACTIONS_FEATURE, Level
from casepush.security.secrets import SecretBox, SecretsUnavailable
from casepush.store import Store, StoredConnector, Tx
from casepush.types import (
    UNSET,
    CaseConnectorInfo,
    ConnectorInfo,
    ConnectorTypeInfo,
    CreateConnector,
    ExecuteResult,
    UpdateConnector,
)

log = logging.getLogger(__name__)

#: Kibana's cap on the connectors Cases lists.
MAX_CASES_CONNECTORS = 1000
_plain_messages = config_schema_message("")


@dataclass(frozen=True)
class ConnectorRuntime:
    """What the connector functions need beyond a request's context, made once at start."""

    plugins: PluginHost
    secrets: SecretBox
    http: OutboundClient
    allowed_hosts: tuple[str, ...]
    preconfigured: dict[str, Connector]
    metrics: Metrics
    #: ``server.publicBaseUrl``: pushed descriptions link back to the case when set.
    public_base_url: str | None = None
    push_lease: float = 60.0


# --- validation ------------------------------------------------------------------------------------


def _blank_strings(value: Any, path: str) -> Iterator[str]:
    """Kibana refuses blank strings anywhere in a connector body (``value '' is not valid``)."""
    if isinstance(value, str) and not value.strip():
        yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _blank_strings(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _blank_strings(item, f"{path}.{index}")


def refuse_blank_strings(body: dict[str, Any]) -> None:
    for path in _blank_strings(body, "request body"):
        raise bad_request(f"[{path}]: value '' is not valid")


def _as_struct(value: dict[str, Any], struct: type[msgspec.Struct], part: str) -> msgspec.Struct:
    try:
        return msgspec.convert(value, struct)
    except msgspec.ValidationError as exc:
        detail = _plain_messages(str(exc), value, struct)
        raise bad_request(f"error validating action type {part}: {detail}") from None


def validated(
    connector_type: ConnectorType, config: dict, secrets: dict, allowed_hosts: tuple[str, ...]
) -> tuple[msgspec.Struct, msgspec.Struct]:
    """Config and secrets as the type's structs, checked as a whole by the type: Kibana's 400s."""
    config_struct = _as_struct(config, connector_type.config, "config")
    secrets_struct = _as_struct(secrets, connector_type.secrets, "secrets")
    if connector_type.validate is not None:
        try:
            connector_type.validate(config_struct, secrets_struct, ValidationContext(allowed_hosts))
        except InvalidConnector as exc:
            raise bad_request(f"error validating action type {exc.part}: {exc.message}") from None
    return config_struct, secrets_struct


def registered_type(plugins: PluginHost, type_id: str) -> ConnectorType:
    connector_type = plugins.types.get(type_id)
    if connector_type is None:
        raise bad_request(f'Action type "{type_id}" is not registered.')
    return connector_type


def preconfigured_connectors(
    plugins: PluginHost, declared: dict[str, PreconfiguredConnector], allowed_hosts: tuple[str, ...]
) -> dict[str, Connector]:
    """The connectors of the settings file, checked at start as the API checks new ones."""
    found = {}
    for connector_id, item in declared.items():
        try:
            connector_type = registered_type(plugins, item.connector_type_id)
            config, secrets = validated(connector_type, item.config, item.secrets, allowed_hosts)
        except KibanaError as exc:
            raise ConfigError(f"preconfigured connector {connector_id}: {exc.message}") from None
        found[connector_id] = Connector(connector_id, item.name, connector_type, config, secrets)
    return found


# --- privileges --------------------------------------------------------------------------------------


def ensure_actions(ctx: Context, level: Level, message: str) -> None:
    """Kibana's check of the "Actions and Connectors" privilege, with the actions plugin's 403 text."""
    granted = ctx.access.levels.get(ACTIONS_FEATURE)
    if granted is None or not granted.covers(level):
        raise forbidden(message)


def _ensure_may_read(ctx: Context) -> None:
    ensure_actions(ctx, Level.READ, "Unauthorized to get actions")


# --- reading -------------------------------------------------------------------------------------------


def _missing(connector_id: str) -> KibanaError:
    return not_found(f"Saved object [action/{connector_id}] not found")


def _has_secrets(rt: ConnectorRuntime, stored: StoredConnector) -> bool:
    try:
        rt.secrets.open(stored.id, stored.secrets)
    except SecretsUnavailable:
        return False
    return True


def _info(rt: ConnectorRuntime, stored: StoredConnector, references: int | None = None) -> ConnectorInfo:
    return ConnectorInfo(
        id=stored.id,
        name=stored.name,
        config=stored.config,
        connector_type_id=stored.type_id,
        is_preconfigured=False,
        is_deprecated=False,
        referenced_by_count=UNSET if references is None else references,
        is_missing_secrets=not _has_secrets(rt, stored),
        is_system_action=False,
    )


def _preconfigured_info(connector: Connector, references: int | None = None) -> ConnectorInfo:
    """Kibana shows neither the config nor ``is_missing_secrets`` of a preconfigured connector."""
    return ConnectorInfo(
        id=connector.id,
        name=connector.name,
        connector_type_id=connector.type.id,
        is_preconfigured=True,
        is_deprecated=False,
        referenced_by_count=UNSET if references is None else references,
        is_system_action=False,
    )


async def get(ctx: Context, rt: ConnectorRuntime, connector_id: str) -> ConnectorInfo:
    _ensure_may_read(ctx)
    if connector_id in rt.preconfigured:
        return _preconfigured_info(rt.preconfigured[connector_id])
    async with ctx.read() as tx:
        stored = await tx.get_connector(ctx.space_id, connector_id)
    if stored is None:
        raise _missing(connector_id)
    return _info(rt, stored)


async def list_all(ctx: Context, rt: ConnectorRuntime) -> list[ConnectorInfo]:
    """The space's connectors and the preconfigured ones, by name, with how many objects use each."""
    _ensure_may_read(ctx)
    async with ctx.scan() as tx:  # the references are counted over every case
        stored = await tx.list_connectors(ctx.space_id)
        ids = [c.id for c in stored] + list(rt.preconfigured)
        references = await tx.count_connector_references(ctx.space_id, ids)
    found = [_info(rt, c, references.get(c.id, 0)) for c in stored]
    found += [_preconfigured_info(c, references.get(c.id, 0)) for c in rt.preconfigured.values()]
    return sorted(found, key=lambda c: (c.name.casefold(), c.name, c.id))


def list_types(rt: ConnectorRuntime, feature_id: str | None) -> list[ConnectorTypeInfo]:
    """The installed connector types (of one feature, when given), in registration order."""
    return [
        ConnectorTypeInfo(
            id=t.id,
            name=t.name,
            enabled=True,
            enabled_in_config=True,
            enabled_in_license=True,
            minimum_license_required=t.minimum_license_required,
            supported_feature_ids=list(t.supported_feature_ids),
            is_system_action_type=False,
            is_deprecated=False,
        )
        for t in rt.plugins.types.values()
        if feature_id is None or feature_id in t.supported_feature_ids
    ]


async def for_cases(ctx: Context, rt: ConnectorRuntime) -> list[CaseConnectorInfo]:
    """``GET /api/cases/configure/connectors/_find``: the connectors whose type supports cases."""
    if not ctx.access.owners(Level.READ):
        raise forbidden(
            "API [GET /api/cases/configure/connectors/_find] is unauthorized for user,"
            " this action is granted by the Kibana privileges [casesGetConnectorsConfigure]"
        )
    cases_types = {t.id for t in rt.plugins.types.values() if CASES_FEATURE in t.supported_feature_ids}
    return [
        CaseConnectorInfo(
            id=c.id,
            actionTypeId=c.connector_type_id,
            name=c.name,
            config=c.config,
            isPreconfigured=c.is_preconfigured,
            isDeprecated=c.is_deprecated,
            isSystemAction=c.is_system_action,
            isMissingSecrets=c.is_missing_secrets,
            referencedByCount=c.referenced_by_count or 0,
        )
        for c in await list_all(ctx, rt)
        if c.connector_type_id in cases_types
    ][:MAX_CASES_CONNECTORS]


async def load(ctx: Context, rt: ConnectorRuntime, connector_id: str, tx: Tx | None = None) -> Connector:
    """A connector with its config and decrypted secrets, as plugins receive it (read in ``tx`` if
    given)."""
    found = await _find(ctx, rt, connector_id, tx)
    if found is None:
        raise _missing(connector_id)
    return opened(rt, found)


async def _find(
    ctx: Context, rt: ConnectorRuntime, connector_id: str, tx: Tx | None = None
) -> Connector | StoredConnector | None:
    """A preconfigured connector, or the space's stored one (still sealed), or None."""
    if connector_id in rt.preconfigured:
        return rt.preconfigured[connector_id]
    if tx is not None:
        return await tx.get_connector(ctx.space_id, connector_id)
    async with ctx.read() as reading:
        return await reading.get_connector(ctx.space_id, connector_id)


def opened(rt: ConnectorRuntime, stored: Connector | StoredConnector) -> Connector:
    """A stored connector's secrets decrypted and its settings checked (a preconfigured one as it is)."""
    if isinstance(stored, Connector):
        return stored
    connector_type = registered_type(rt.plugins, stored.type_id)
    try:
        secrets = rt.secrets.open(stored.id, stored.secrets)
    except SecretsUnavailable:
        raise MissingSecrets(stored.name) from None
    config, secrets_struct = validated(connector_type, stored.config, secrets, rt.allowed_hosts)
    return Connector(stored.id, stored.name, connector_type, config, secrets_struct)


class MissingSecrets(Exception):
    """The connector's secrets cannot be decrypted with the configured keys."""

    def __init__(self, name: str):
        super().__init__(
            f'Unable to execute action because no secrets are defined for the "{name}" connector.'
            " The encryption key may have changed: set the connector's secrets again."
        )


# --- writing -------------------------------------------------------------------------------------------


def _to_store(
    rt: ConnectorRuntime,
    connector_id: str,
    connector_type: ConnectorType,
    body: CreateConnector | UpdateConnector,
    created_at: str | None,
) -> StoredConnector:
    """A checked connector as stored: config as validated (defaults filled in), secrets sealed."""
    config, secrets = validated(connector_type, body.config, body.secrets, rt.allowed_hosts)
    now = now_iso()
    return StoredConnector(
        id=connector_id,
        type_id=connector_type.id,
        name=body.name,
        config=msgspec.to_builtins(config),
        secrets=rt.secrets.seal(connector_id, msgspec.to_builtins(secrets)),
        created_at=created_at or now,
        updated_at=now,
    )


_CONNECTOR_ID = re.compile(r"^[a-z0-9-]+$")
MAX_CONNECTOR_ID_LENGTH = 36


def validate_connector_id(connector_id: str) -> None:
    """The newest Kibana's rule for ids chosen by the caller."""
    if len(connector_id) > MAX_CONNECTOR_ID_LENGTH:
        problem = f"Connector ID must be {MAX_CONNECTOR_ID_LENGTH} characters or less."
    elif not _CONNECTOR_ID.match(connector_id):
        problem = "Connector ID must contain only lowercase letters, numbers, and hyphens."
    else:
        return
    raise bad_request(f"[request params.id]: {problem}")


async def create(
    ctx: Context, rt: ConnectorRuntime, connector_id: str | None, body: CreateConnector
) -> ConnectorInfo:
    if connector_id is not None:
        validate_connector_id(connector_id)
    ensure_actions(ctx, Level.ALL, f'Unauthorized to create a "{body.connector_type_id}" action')
    connector_id = connector_id or new_id()
    if connector_id in rt.preconfigured:
        raise bad_request(f"This {connector_id} already exists in a preconfigured action.")
    connector_type = registered_type(rt.plugins, body.connector_type_id)
    stored = _to_store(rt, connector_id, connector_type, body, created_at=None)
    async with ctx.store.write() as tx:
        if not await tx.insert_connector(ctx.space_id, stored):
            raise conflict(f"Saved object [action/{connector_id}] conflict")
    return _info(rt, stored)


async def update(
    ctx: Context, rt: ConnectorRuntime, connector_id: str, body: UpdateConnector
) -> ConnectorInfo:
    """Replace a connector's name, config and secrets (all of them, as Kibana does); its type stays."""
    ensure_actions(ctx, Level.ALL, "Unauthorized to update actions")
    if connector_id in rt.preconfigured:
        raise bad_request(f"Preconfigured action {connector_id} can not be updated.")
    async with ctx.store.write() as tx:
        current = await tx.get_connector(ctx.space_id, connector_id)
        if current is None:
            raise _missing(connector_id)
        connector_type = registered_type(rt.plugins, current.type_id)
        stored = _to_store(rt, connector_id, connector_type, body, created_at=current.created_at)
        await tx.update_connector(ctx.space_id, stored)
    return _info(rt, stored)


async def delete(ctx: Context, rt: ConnectorRuntime, connector_id: str) -> None:
    ensure_actions(ctx, Level.ALL, "Unauthorized to delete actions")
    if connector_id in rt.preconfigured:
        raise bad_request(f"Preconfigured action {connector_id} is not allowed to delete.")
    async with ctx.store.write() as tx:
        if not await tx.delete_connector(ctx.space_id, connector_id):
            raise _missing(connector_id)
        # casepush's own state of it (automatic push and sync settings, the outbox, incident links):
        # a connector made later with the same id starts afresh.
        await tx.delete_connector_settings(ctx.space_id, connector_id)


@dataclass(frozen=True)
class Rotation:
    rotated: int
    unreadable: list[str]
    #: Two-way sync's inbound webhook secrets re-sealed.
    inbound_rotated: int = 0


async def rotate_secrets(store: Store, box: SecretBox) -> Rotation:
    """Re-seal with the current key every connector's secrets (and two-way sync's inbound secrets) sealed
    with an earlier one, so that the earlier keys can then be dropped. Connectors no configured key opens
    are listed, not changed."""
    rotated, inbound_rotated, unreadable = 0, 0, []
    async with store.bulk_write() as tx:
        for space in await tx.list_spaces():
            for stored in await tx.list_connectors(space.id):
                try:
                    token = box.rotated(stored.secrets)
                except SecretsUnavailable:
                    unreadable.append(f"{space.id}/{stored.id}")
                    continue
                if token is not None:
                    await tx.update_connector(space.id, dataclasses.replace(stored, secrets=token))
                    rotated += 1
        for space_id, connector_id, sealed in await tx.list_inbound_secrets():
            try:
                token = box.rotated(sealed)
            except SecretsUnavailable:
                unreadable.append(f"{space_id}/{connector_id} (inbound secret)")
                continue
            if token is not None:
                await tx.set_inbound_secret(space_id, connector_id, token)
                inbound_rotated += 1
    return Rotation(rotated, unreadable, inbound_rotated)


# --- executing -----------------------------------------------------------------------------------------


def _params(connector: Connector, params: dict[str, Any]) -> tuple[str, msgspec.Struct]:
    """The sub-action and its params struct, or ``InvalidParams``."""
    connector_type, sub_action = connector.type, params.get("subAction")
    if connector_type.sub_action_framework and isinstance(sub_action, str):
        if sub_action not in connector_type.sub_actions:
            raise InvalidParams(
                f'Sub action "{sub_action}" is not registered. Connector id: {connector.id}.'
                f" Connector name: {connector_type.name}. Connector type: {connector_type.id}",
                in_run=True,
            )
    elif sub_action not in connector_type.sub_actions:
        if connector_type.sub_action_framework:
            got = js_type(sub_action) if "subAction" in params else "undefined"
            raise InvalidParams(f"[subAction]: expected value of type [string] but got [{got}]")
        alternatives = "\n".join(
            f"- [{i}.subAction]: expected value to equal [{name}]"
            for i, name in enumerate(connector_type.sub_actions)
        )
        raise InvalidParams(f"types that failed validation:\n{alternatives}")
    assert isinstance(sub_action, str)  # one of the type's sub-actions
    return sub_action, sub_action_params(connector_type, sub_action, params.get("subActionParams", {}))


def sub_action_params(connector_type: ConnectorType, sub_action: str, raw: Any) -> msgspec.Struct:
    """``subActionParams`` as the sub-action's struct (its own checks included), or ``InvalidParams``."""
    struct = connector_type.sub_actions[sub_action]
    in_run = connector_type.sub_action_framework  # the framework checks the params alone, in the run
    try:
        return msgspec.convert(raw if raw is not None or not in_run else {}, struct)
    except msgspec.ValidationError as exc:
        detail = config_schema_message("" if in_run else "subActionParams")(str(exc), raw, struct)
        if in_run:
            raise InvalidParams(f"Request validation failed (Error: {detail})", in_run=True) from None
        raise InvalidParams(detail) from None


class InvalidParams(Exception):
    """Params Kibana refuses: in their validation (``error validating action params: <detail>``), or
    ``in_run``, when its sub-action framework runs them (the run's service message is the detail)."""

    def __init__(self, detail: str, in_run: bool = False):
        super().__init__(detail)
        self.detail = detail
        self.in_run = in_run

    @property
    def message(self) -> str:
        return self.detail if self.in_run else f"error validating action params: {self.detail}"


def pushed_data(incident: PushedIncident) -> dict[str, Any]:
    """Kibana's ``pushToService`` answer: ``{id, title, url, pushedDate, comments}``."""
    data: dict[str, Any] = {
        "id": incident.id,
        "title": incident.title,
        "url": incident.url,
        "pushedDate": incident.pushed_date,
    }
    if incident.comments:
        data["comments"] = [
            {"commentId": c.comment_id, "pushedDate": c.pushed_date} for c in incident.comments
        ]
    return data


async def execute(
    ctx: Context, rt: ConnectorRuntime, connector_id: str, params: dict[str, Any]
) -> ExecuteResult:
    """Run a sub-action; what goes wrong in the external system is an answer with ``status: error``."""
    found = await _find(ctx, rt, connector_id)
    if isinstance(found, Connector):
        denied = f'Unauthorized to execute a "{found.type.id}" action'
    else:
        denied = (
            f'Unauthorized to execute a "{found.type_id}" action'
            if found
            else "Unauthorized to execute actions"
        )
    # Kibana checks the privilege before it finds out that the connector does not exist.
    ensure_actions(ctx, Level.READ, denied)
    if found is None:
        raise _missing(connector_id)
    try:
        connector = opened(rt, found)
    except MissingSecrets as exc:
        return ExecuteResult(status="error", message=str(exc), connector_id=connector_id, retry=False)
    try:
        sub_action, parsed = _params(connector, params)
        if sub_action == PUSH_TO_SERVICE:
            data = pushed_data(await rt.plugins.push_to_service(connector, parsed, rt.http))
        else:
            data = await rt.plugins.execute_sub_action(connector, sub_action, parsed, rt.http)
    except InvalidParams as exc:
        if exc.in_run:
            return _failed_run(connector_id, exc.detail)
        return ExecuteResult(status="error", message=exc.message, connector_id=connector_id, retry=False)
    except (ConnectorError, OutboundError) as exc:
        return _failed_run(connector_id, exc.message)
    return ExecuteResult(status="ok", data=data, connector_id=connector_id)


def _failed_run(connector_id: str, service_message: str) -> ExecuteResult:
    return ExecuteResult(
        status="error",
        message="an error occurred while running the action",
        connector_id=connector_id,
        retry=True,
        service_message=service_message,
    )
