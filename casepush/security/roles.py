"""Roles: the reserved ones every deployment has, and the stored ones a superuser defines."""

from casepush.store import Tx
from casepush.types import ElasticsearchPrivileges, KibanaPrivilege, RoleBody

SUPERUSER_ROLE = "superuser"
_RESERVED = {"_reserved": True}

#: Elasticsearch's built-in roles as Kibana's role API shows them.
RESERVED_ROLES: dict[str, RoleBody] = {
    SUPERUSER_ROLE: RoleBody(
        metadata=_RESERVED,
        elasticsearch=ElasticsearchPrivileges(
            cluster=["all"],
            indices=[{"names": ["*"], "privileges": ["all"], "allow_restricted_indices": True}],
            run_as=["*"],
        ),
        kibana=[KibanaPrivilege(spaces=["*"])],
    ),
    "editor": RoleBody(
        metadata=_RESERVED,
        kibana=[KibanaPrivilege(spaces=["*"], base=["all"])],
    ),
    "viewer": RoleBody(
        metadata=_RESERVED,
        kibana=[KibanaPrivilege(spaces=["*"], base=["read"])],
    ),
}


async def role_bodies(tx: Tx, names: list[str]) -> list[RoleBody]:
    """The definitions of the named roles; a name no role has grants nothing, as in Elasticsearch."""
    stored = await tx.get_roles([name for name in names if name not in RESERVED_ROLES])
    return [
        RESERVED_ROLES.get(name) or stored[name] for name in names if name in RESERVED_ROLES or name in stored
    ]
