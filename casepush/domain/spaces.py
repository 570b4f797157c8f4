"""Kibana's spaces: validation with its config-schema messages, who may see and manage them."""

import re
from typing import Literal

import msgspec

from casepush.domain import Context
from casepush.domain.validation import js_length
from casepush.errors import KibanaError, bad_request, conflict, forbidden, not_found
from casepush.security.authz import SAVED_OBJECTS_FEATURE, Level
from casepush.store import Store
from casepush.types import UNSET, AuthorizedPurposes, Space, SpaceWithPurposes, UnsetType

SPACE_ID = re.compile(r"^[a-z0-9_\-]+$")
SPACE_ID_RULE = "must be lower case, a-z, 0-9, '_', and '-' are allowed"
_COLOR = re.compile(r"^#[a-zA-Z0-9]{6}$")
_IMAGE_URL = re.compile(r"^data:image")
MAX_INITIALS = 2
MAX_DISABLED_FEATURES = 100


def validate(space: Space) -> None:
    """The rules of Kibana's space schema, each reported as ``[request body.<field>]: ...``."""
    problems = {
        "id": _matches(space.id, SPACE_ID, SPACE_ID_RULE),
        "name": _min_length(space.name, 1),
        "initials": _max_length(space.initials or "", MAX_INITIALS),
        "color": _matches(space.color, _COLOR, "must be a 6 digit hex color, starting with a #"),
        "imageUrl": _matches(space.imageUrl or UNSET, _IMAGE_URL, "must start with 'data:image'"),
        "disabledFeatures": _max_size(space.disabledFeatures, MAX_DISABLED_FEATURES),
    }
    for field, problem in problems.items():
        if problem:
            raise bad_request(f"[request body.{field}]: {problem}")


def _matches(value: str | UnsetType, pattern: re.Pattern, rule: str) -> str | None:
    return rule if isinstance(value, str) and not pattern.match(value) else None


def _min_length(value: str, minimum: int) -> str | None:
    length = js_length(value)
    return (
        f"value has length [{length}] but it must have a minimum length of [{minimum}]."
        if length < minimum
        else None
    )


def _max_length(value: str, maximum: int) -> str | None:
    length = js_length(value)
    return (
        f"value has length [{length}] but it must have a maximum length of [{maximum}]."
        if length > maximum
        else None
    )


def _max_size(values: list, maximum: int) -> str | None:
    return (
        f"array size is [{len(values)}], but cannot be greater than [{maximum}]"
        if len(values) > maximum
        else None
    )


def _ensure_manager(ctx: Context, verb: str) -> None:
    if not ctx.principal.grants.manages_spaces:
        raise forbidden(f"Unauthorized to {verb} spaces")


def _missing() -> KibanaError:
    return not_found("Not Found")


#: The purposes Kibana's spaces list may be asked for (``findSavedObjects`` is only ever reported).
Purpose = Literal["any", "copySavedObjectsIntoSpace", "shareSavedObjectsIntoSpace"]


def authorized_purposes(ctx: Context, space_id: str) -> AuthorizedPurposes:
    """Kibana's purposes in casepush's privileges. ``any`` is Kibana's ``login``: any privilege in the
    space. ``findSavedObjects`` needs ``login`` and finding the ``config`` saved object, which every
    feature's ``read`` and ``all`` grant in Kibana, so it is the same. Copying and sharing objects into
    the space need ``all`` on Saved Objects Management, which the base privilege ``all`` includes."""
    levels = ctx.principal.grants.in_space(space_id)
    entered = bool(levels)
    manages_objects = levels.get(SAVED_OBJECTS_FEATURE) is Level.ALL
    return AuthorizedPurposes(
        any=entered,
        copySavedObjectsIntoSpace=manages_objects,
        findSavedObjects=entered,
        shareSavedObjectsIntoSpace=manages_objects,
    )


async def list_spaces(ctx: Context, purpose: Purpose = "any", with_purposes: bool = False) -> list[Space]:
    """The spaces the caller may use for ``purpose``, or (``with_purposes``) those the caller has any
    purpose in, each with its purposes; a 403 when there is none."""
    async with ctx.read() as tx:
        found = await tx.list_spaces()
    visible: list[Space] = []
    for space in found:
        purposes = authorized_purposes(ctx, space.id)
        if with_purposes and any(msgspec.structs.astuple(purposes)):
            visible.append(SpaceWithPurposes(**msgspec.structs.asdict(space), authorizedPurposes=purposes))
        elif not with_purposes and getattr(purposes, purpose):
            visible.append(space)
    if not visible:
        raise forbidden("Forbidden")
    return visible


async def find_space(store: Store, space_id: str) -> Space | None:
    """The space a request names, before anyone's access to it is known (no caller, or one not yet
    checked against the space): kept in memory by the store while it hears every change of spaces
    (``Store.space``)."""
    return await store.space(space_id)


async def get(ctx: Context, space_id: str) -> Space:
    if not ctx.principal.grants.may_enter(space_id):
        raise forbidden(f"Unauthorized to get {space_id} space")
    async with ctx.read() as tx:
        space = await tx.get_space(space_id)
    if space is None:
        raise _missing()
    return space


async def create(ctx: Context, space: Space) -> Space:
    validate(space)
    _ensure_manager(ctx, "create")
    # ``_reserved`` is accepted in the body but never stored: only the default space has it.
    space = msgspec.structs.replace(space, name=space.name.strip(), reserved=UNSET)
    async with ctx.store.write() as tx:
        if not await tx.insert_space(space):
            raise conflict(f"A space with the identifier {space.id} already exists.")
    return space


#: Optional fields a PUT leaves as they are when its body omits them.
_KEPT_WHEN_ABSENT = ("description", "color", "initials", "imageUrl", "solution")


async def update(ctx: Context, space_id: str, space: Space) -> Space:
    """Update a space; the id in the path wins over the body's, as in Kibana. Kibana's saved-object
    update is partial: optional fields the body leaves out keep their value (``disabledFeatures``,
    which the schema defaults to ``[]``, is always replaced)."""
    validate(space)
    _ensure_manager(ctx, "update")
    async with ctx.store.write() as tx:
        current = await tx.get_space(space_id)
        if current is None:
            raise _missing()
        name = space.name.strip() if space.name != current.name else space.name
        kept = {f: getattr(current, f) for f in _KEPT_WHEN_ABSENT if getattr(space, f) is UNSET}
        space = msgspec.structs.replace(space, **kept, id=space_id, name=name, reserved=current.reserved)
        await tx.update_space(space)
    return space


async def delete(ctx: Context, space_id: str) -> None:
    """Delete a space and every case, comment, user action and configuration in it."""
    _ensure_manager(ctx, "delete")
    async with ctx.store.write() as tx:
        current = await tx.get_space(space_id)
        if current is None:
            raise _missing()
        if current.reserved:
            raise bad_request(f"The {space_id} space cannot be deleted because it is reserved.")
        await tx.delete_space(space_id)
