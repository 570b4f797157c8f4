"""Roles in Kibana's shape (``/api/security/role``), validated as Kibana's role schema does."""

import re

import msgspec

from casepush.domain import Context
from casepush.domain.security import ensure_superuser, name_rule, valid_name
from casepush.domain.spaces import SPACE_ID, SPACE_ID_RULE
from casepush.errors import bad_request, conflict, not_found, relayed
from casepush.security.authz import ALL_SPACES, LEVEL_NAMES
from casepush.security.roles import RESERVED_ROLES
from casepush.types import (
    UNSET,
    KibanaPrivilege,
    Role,
    RoleBody,
)

MAX_ROLE_PARAM_LENGTH = 1024
_FEATURE_NAME = re.compile(r"^[a-zA-Z0-9_-]+$")
_FEATURE_NAME_RULE = "only a-z, A-Z, 0-9, '_', and '-' are allowed"


def validate_role(name: str, role: RoleBody) -> None:
    """Kibana's role schema (``[request body.kibana.N...]`` messages), then Elasticsearch's name rules."""
    if len(name) > MAX_ROLE_PARAM_LENGTH:
        raise bad_request(
            f"[request params.name]: value has length [{len(name)}] but it must have a maximum length of"
            f" [{MAX_ROLE_PARAM_LENGTH}]."
        )
    for index, privilege in enumerate(role.kibana):
        if problem := _privilege_problem(privilege, f"request body.kibana.{index}"):
            raise bad_request(problem)
    if overlap := _overlapping_spaces(role.kibana):
        raise bad_request(
            f"[request body.kibana]: more than one privilege is applied to the following spaces: [{overlap}]"
        )
    if name in RESERVED_ROLES:
        reason = f"Validation Failed: 1: Role [{name}] is reserved and may not be used.;"
        raise bad_request(relayed("action_request_validation_exception", reason))
    if not valid_name(name):
        reason = f"Validation Failed: 1: {name_rule('Role')};"
        raise bad_request(relayed("action_request_validation_exception", reason))


def _privilege_problem(privilege: KibanaPrivilege, at: str) -> str | None:
    spaces = privilege.spaces
    if spaces != [ALL_SPACES] and not all(SPACE_ID.match(s) for s in spaces):
        first_not_all = next((i for i, s in enumerate(spaces) if s != ALL_SPACES), 0)
        first_invalid = next(i for i, s in enumerate(spaces) if not SPACE_ID.match(s))
        return (
            f"[{at}.spaces]: types that failed validation:\n"
            f"- [{at}.spaces.0.{first_not_all}]: expected value to equal [{ALL_SPACES}]\n"
            f"- [{at}.spaces.1.{first_invalid}]: {SPACE_ID_RULE}"
        )
    scope = "global" if spaces == [ALL_SPACES] else "space"
    for i, base in enumerate(privilege.base):
        if base not in LEVEL_NAMES:
            return f'[{at}.base.{i}]: unknown {scope} privilege "{base}", must be one of [all,read]'
    for feature, names in privilege.feature.items():
        if not _FEATURE_NAME.match(feature):
            return f'[{at}.feature.key("{feature}")]: {_FEATURE_NAME_RULE}'
        for i, value in enumerate(names):
            if not _FEATURE_NAME.match(value):
                return f"[{at}.feature.{feature}.{i}]: {_FEATURE_NAME_RULE}"
    has_features = any(privilege.feature.values())
    if not privilege.base and not has_features:
        return f"[{at}]: either [base] or [feature] is expected, but none of them specified"
    if privilege.base and privilege.feature:
        return f"[{at}]: definition of [feature] isn't allowed when non-empty [base] is defined."
    return None


def _overlapping_spaces(privileges: list[KibanaPrivilege]) -> str | None:
    for index, first in enumerate(privileges):
        for second in privileges[index + 1 :]:
            if shared := [s for s in first.spaces if s in second.spaces]:
                return ",".join(shared)
    return None


#: Kibana's deprecated cases features: the feature that replaces each, and what the old ``minimal_all``
#: included besides (the sub-feature privileges its ``replacedBy`` lists). Every other privilege keeps
#: its name on the new feature, as their ``replacedBy`` says.
_DEPRECATED_FEATURES = {
    f"{feature}{old}": (f"{feature}V3", included)
    for feature in ("generalCases", "observabilityCases", "securitySolutionCases")
    for old, included in (("", ("create_comment", "case_reopen", "cases_assign")), ("V2", ("cases_assign",)))
}


def replace_deprecated_privileges(privilege: KibanaPrivilege) -> KibanaPrivilege:
    """``replaceDeprecatedPrivileges=true``: privileges on deprecated cases features are given as the
    privileges on the feature that replaces them, merged with any the role has there already."""
    features: dict[str, list[str]] = {}
    for feature, names in privilege.feature.items():
        target, included = _DEPRECATED_FEATURES.get(feature, (feature, ()))
        replaced = [n for name in names for n in ((name, *included) if name == "minimal_all" else (name,))]
        features[target] = list(dict.fromkeys([*features.get(target, []), *replaced]))
    return msgspec.structs.replace(privilege, feature=features)


def role_view(name: str, body: RoleBody, replace_deprecated: bool = False) -> Role:
    kibana = [replace_deprecated_privileges(p) for p in body.kibana] if replace_deprecated else body.kibana
    return Role(
        name=name,
        description=body.description or UNSET,
        metadata=body.metadata,
        transient_metadata={"enabled": True},
        elasticsearch=body.elasticsearch,
        kibana=kibana,
    )


async def put_role(ctx: Context, name: str, role: RoleBody, create_only: bool) -> None:
    validate_role(name, role)
    ensure_superuser(ctx, "role/put")
    async with ctx.store.write() as tx:
        if create_only and await tx.get_roles([name]):
            raise conflict(f"Role already exists and cannot be created: {name}")
        await tx.put_role(name, role)


async def get_roles(ctx: Context, replace_deprecated: bool = False) -> list[Role]:
    """Reserved and defined roles, by name."""
    ensure_superuser(ctx, "role/get")
    async with ctx.read() as tx:
        stored = await tx.list_roles()
    return [
        role_view(name, body, replace_deprecated)
        for name, body in sorted({**stored, **RESERVED_ROLES}.items())
    ]


async def get_role(ctx: Context, name: str, replace_deprecated: bool = False) -> Role:
    ensure_superuser(ctx, "role/get")
    if name in RESERVED_ROLES:
        return role_view(name, RESERVED_ROLES[name], replace_deprecated)
    async with ctx.read() as tx:
        found = await tx.get_roles([name])
    if not found:
        raise not_found("Not Found")
    return role_view(name, found[name], replace_deprecated)


async def delete_role(ctx: Context, name: str) -> None:
    ensure_superuser(ctx, "role/delete")
    if name in RESERVED_ROLES:
        raise bad_request(
            relayed("illegal_argument_exception", f"role [{name}] is reserved and cannot be deleted")
        )
    async with ctx.store.write() as tx:
        if not await tx.delete_role(name):
            raise not_found("Not Found")
