"""Roles: the reserved ones every deployment has, and the stored ones a superuser defines; and
Elasticsearch's role descriptors (an API key's restriction), whose Kibana application privileges are
Kibana's feature privileges."""

from casepush.store import Tx
from casepush.types import (
    ApplicationPrivileges,
    ElasticsearchPrivileges,
    KibanaPrivilege,
    RoleBody,
    RoleDescriptor,
)

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
    return list((await named_role_bodies(tx, names)).values())


async def named_role_bodies(tx: Tx, names: list[str]) -> dict[str, RoleBody]:
    """The named roles that exist, by name, in the order named."""
    stored = await tx.get_roles([name for name in names if name not in RESERVED_ROLES])
    return {
        name: RESERVED_ROLES.get(name) or stored[name]
        for name in names
        if name in RESERVED_ROLES or name in stored
    }


# --- Elasticsearch's role descriptors -------------------------------------------------------------

#: The Elasticsearch application Kibana keeps its privileges in; ``*`` names every application.
KIBANA_APPLICATIONS = ("kibana-.kibana", "*")
EVERY_SPACE = "*"
SPACE_RESOURCE = "space:"
#: Base privileges by their application names: on every space (resource ``*``), or on named spaces.
_GLOBAL_BASE = {"all": "all", "read": "read", "*": "all"}
_SPACE_BASE = {"space_all": "all", "space_read": "read", "*": "all"}
FEATURE_PREFIX = "feature_"


def descriptor_privileges(descriptor: RoleDescriptor) -> list[KibanaPrivilege]:
    """The Kibana privileges a role descriptor grants, read as Kibana reads a role from Elasticsearch:
    resource ``*`` is every space and takes the base privileges ``all`` and ``read``; ``space:<id>`` is
    one space and takes ``space_all`` and ``space_read``; ``feature_<id>.<name>`` is a feature privilege
    on either. Anything else grants nothing."""
    privileges = []
    for app in descriptor.applications:
        if app.application not in KIBANA_APPLICATIONS:
            continue
        spaces = [r.removeprefix(SPACE_RESOURCE) for r in app.resources if r.startswith(SPACE_RESOURCE)]
        for names, on in (
            (_GLOBAL_BASE, [EVERY_SPACE] if EVERY_SPACE in app.resources else []),
            (_SPACE_BASE, spaces),
        ):
            if on:
                privileges.append(_kibana_privilege(app.privileges, names, on))
    return privileges


def _kibana_privilege(names: list[str], bases: dict[str, str], spaces: list[str]) -> KibanaPrivilege:
    feature: dict[str, list[str]] = {}
    for name in names:
        if name.startswith(FEATURE_PREFIX):
            feature_id, _, level = name.removeprefix(FEATURE_PREFIX).rpartition(".")
            feature.setdefault(feature_id, []).append(level)
    return KibanaPrivilege(
        base=[bases[name] for name in names if name in bases], feature=feature, spaces=spaces
    )


def role_descriptor(body: RoleBody) -> RoleDescriptor:
    """A role as Elasticsearch describes it: its Kibana privileges as application privileges (the
    superuser's: every privilege of every application)."""
    applications = (
        [ApplicationPrivileges(application="*", privileges=["*"], resources=["*"])]
        if body is RESERVED_ROLES[SUPERUSER_ROLE]
        else [_application_privileges(privilege) for privilege in body.kibana]
    )
    return RoleDescriptor(
        cluster=body.elasticsearch.cluster,
        indices=body.elasticsearch.indices,
        applications=applications,
        run_as=body.elasticsearch.run_as,
        metadata=body.metadata,
    )


def _application_privileges(privilege: KibanaPrivilege) -> ApplicationPrivileges:
    everywhere = EVERY_SPACE in privilege.spaces
    base = [name if everywhere else f"space_{name}" for name in privilege.base]
    features = [
        f"{FEATURE_PREFIX}{fid}.{level}" for fid, levels in privilege.feature.items() for level in levels
    ]
    resources = [EVERY_SPACE] if everywhere else [SPACE_RESOURCE + space for space in privilege.spaces]
    return ApplicationPrivileges(
        application=KIBANA_APPLICATIONS[0], privileges=base + features, resources=resources
    )


def grants_anything(descriptor: RoleDescriptor) -> bool:
    """Whether a descriptor holds any privilege (a derived API key's must hold none)."""
    parts = (descriptor.cluster, descriptor.indices, descriptor.applications, descriptor.run_as)
    return any(parts) or bool(descriptor.remote_indices or descriptor.remote_cluster)
