"""Case settings per owner and space: closure type, default connector, custom fields and templates."""

import msgspec
from msgspec import UNSET

from casepush.domain import Context, new_id, now_iso, validation
from casepush.domain.cases import validate_connector
from casepush.domain.custom_fields import duplicated_keys
from casepush.errors import bad_request, conflict, saved_object_not_found
from casepush.security.authz import Operations
from casepush.store import VersionConflict
from casepush.types import Configuration, CreateConfiguration, CustomFieldConfig, PatchConfiguration, Template

MAX_CUSTOM_FIELDS = 10
MAX_TEMPLATES = 10
MAX_CUSTOM_FIELD_KEY_LENGTH = 36
MAX_CUSTOM_FIELD_LABEL_LENGTH = 50
MAX_TEMPLATE_NAME_LENGTH = 50
_STALE = "This configuration has been updated. Please refresh before saving additional updates."


def _validate_custom_fields(fields: list[CustomFieldConfig]) -> None:
    validation.limited_array(fields, "customFields", MAX_CUSTOM_FIELDS)
    for field in fields:
        validation.limited_string(field.key, "key", MAX_CUSTOM_FIELD_KEY_LENGTH)
        if not all(c.islower() or c.isdigit() or c in "_-" for c in field.key) or not field.key.isascii():
            raise bad_request("Key must be lower case, a-z, 0-9, '_', and '-' are allowed")
        validation.limited_string(field.label, "label", MAX_CUSTOM_FIELD_LABEL_LENGTH)
        if isinstance(field.defaultValue, str):
            validation.limited_string(
                field.defaultValue, "defaultValue", validation.MAX_CUSTOM_FIELD_TEXT_VALUE_LENGTH
            )
    duplicated_keys([f.key for f in fields], "customFields")


def _validate_templates(templates: list[Template]) -> None:
    validation.limited_array(templates, "templates", MAX_TEMPLATES)
    for template in templates:
        validation.limited_string(template.name, "name", MAX_TEMPLATE_NAME_LENGTH)
    duplicated_keys([t.key for t in templates], "templates")


def _with_mappings(ctx: Context, configuration: Configuration) -> Configuration:
    """The configuration with its connector type's mappings, as Kibana shows them (none for ``.none`` or
    a type no longer installed)."""
    connector_type = ctx.connector_types.get(configuration.connector.type)
    mappings = list(connector_type.case_mappings) if connector_type is not None else []
    return msgspec.structs.replace(configuration, mappings=mappings)


async def get(ctx: Context, owners: list[str]) -> list[Configuration]:
    async with ctx.read() as tx:
        found = await tx.list_configurations(
            ctx.space_id, ctx.access.allowed_owners(owners, Operations.find_configurations)
        )
    return [_with_mappings(ctx, configuration) for configuration in found]


async def create(ctx: Context, request: CreateConfiguration) -> Configuration:
    """Kibana replaces an owner's existing configuration rather than refusing a second one."""
    _validate_custom_fields(request.customFields)
    _validate_templates(request.templates)
    validate_connector(ctx, request.connector)
    ctx.access.ensure([request.owner], Operations.create_configuration)
    async with ctx.store.write() as tx:
        for existing in await tx.list_configurations(ctx.space_id, [request.owner]):
            await tx.delete_configuration(ctx.space_id, existing.id)
        configuration = Configuration(
            id=new_id(),
            owner=request.owner,
            closure_type=request.closure_type,
            connector=request.connector,
            customFields=request.customFields,
            templates=request.templates,
            observableTypes=request.observableTypes,
            created_at=now_iso(),
            created_by=ctx.user,
        )
        return _with_mappings(ctx, await tx.insert_configuration(ctx.space_id, configuration))


async def update(ctx: Context, configuration_id: str, request: PatchConfiguration) -> Configuration:
    if request.customFields is not UNSET:
        _validate_custom_fields(request.customFields)
    if request.templates is not UNSET:
        _validate_templates(request.templates)
    if request.connector is not UNSET:
        validate_connector(ctx, request.connector)
    async with ctx.store.write() as tx:
        current = await tx.get_configuration(ctx.space_id, configuration_id)
        if current is None:
            raise saved_object_not_found("cases-configure", configuration_id)
        if request.customFields is not UNSET:
            types = {f.key: f.type for f in current.customFields}
            retyped = [f for f in request.customFields if types.get(f.key, f.type) != f.type]
            if retyped:
                labels = ", ".join(f'"{f.label}"' for f in retyped)
                raise bad_request(f"Invalid custom field types in request for the following labels: {labels}")
        ctx.access.ensure([current.owner], Operations.update_configuration)
        if current.version != request.version:
            raise conflict(_STALE)
        changes = {
            name: value
            for name in ("closure_type", "connector", "customFields", "templates", "observableTypes")
            if (value := getattr(request, name)) is not UNSET
        }
        updated = msgspec.structs.replace(current, **changes, updated_at=now_iso(), updated_by=ctx.user)
        try:
            return _with_mappings(ctx, await tx.update_configuration(ctx.space_id, updated, request.version))
        except VersionConflict:
            raise conflict(_STALE) from None
