"""Kibana's feature privileges: roles to grants, grants to what a caller may do in a space, and 403 texts."""

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import overload

from casepush.errors import forbidden
from casepush.types import OWNERS, KibanaPrivilege, User

#: The cases feature that guards each owner's objects (CONTRACT section 3).
OWNER_FEATURES = {
    "cases": "generalCases",
    "observability": "observabilityCases",
    "securitySolution": "securitySolutionCases",
}
#: Connectors ("Actions and Connectors").
ACTIONS_FEATURE = "actions"
#: Kibana's "Saved Objects Management". casepush keeps no saved objects, but ``all`` on it (or the base
#: privilege ``all``) is what lets a caller copy and share objects into a space in Kibana, which the
#: spaces list reports as purposes (``GET /api/spaces/space?include_authorized_purposes=true``).
SAVED_OBJECTS_FEATURE = "savedObjectsManagement"
FEATURES = (*OWNER_FEATURES.values(), ACTIONS_FEATURE, SAVED_OBJECTS_FEATURE)
#: Kibana renamed the cases features twice (``generalCasesV2``, ``generalCasesV3``); every name is accepted.
_VERSIONED = re.compile(r"^(?P<base>.+?)(V[23])?$")
ALL_SPACES = "*"


def canonical_feature(feature_id: str) -> str | None:
    """The feature an id (maybe a versioned alias) names, or None when casepush has no such feature."""
    match = _VERSIONED.match(feature_id)
    base = match["base"] if match else feature_id
    if base in OWNER_FEATURES.values():
        return base
    return feature_id if feature_id in (ACTIONS_FEATURE, SAVED_OBJECTS_FEATURE) else None


class Level(Enum):
    READ = "read"
    ALL = "all"

    def covers(self, needed: "Level") -> bool:
        return self is Level.ALL or needed is Level.READ


#: Privilege names that grant something. Kibana's finer ones (``minimal_all``, sub-feature privileges
#: such as ``cases_delete``) are kept in the role but grant nothing here, so they never grant too much.
LEVEL_NAMES = frozenset(level.value for level in Level)


def weakest(a: Level, b: Level) -> Level:
    return a if b is Level.ALL else b


@overload
def strongest(held: Level | None, granted: Level, /) -> Level: ...
@overload
def strongest(*levels: Level | None) -> Level | None: ...
def strongest(*levels: Level | None) -> Level | None:
    present = [level for level in levels if level is not None]
    return Level.ALL if Level.ALL in present else (present[0] if present else None)


@dataclass(frozen=True)
class Operation:
    """A cases operation: the verb and document type of Kibana's 403 message, and the level it needs."""

    verb: str
    doc_type: str
    level: Level


class Operations:
    create_case = Operation("create", "case", Level.ALL)
    update_case = Operation("update", "case", Level.ALL)
    delete_case = Operation("delete", "case", Level.ALL)
    get_case = Operation("access", "case", Level.READ)
    find_cases = Operation("access", "cases", Level.READ)
    get_tags = Operation("access", "case", Level.READ)
    get_reporters = Operation("access", "case", Level.READ)
    get_alerts = Operation("access", "comments", Level.READ)
    get_statuses = Operation("access", "cases", Level.READ)
    get_cases_of_alert = Operation("access", "cases", Level.READ)
    create_comment = Operation("create", "comments", Level.ALL)
    update_comment = Operation("update", "comments", Level.ALL)
    delete_comment = Operation("delete", "comments", Level.ALL)
    get_comment = Operation("access", "comments", Level.READ)
    get_user_actions = Operation("access", "user actions", Level.READ)
    find_configurations = Operation("access", "case configurations", Level.READ)
    create_configuration = Operation("create", "case configuration", Level.ALL)
    update_configuration = Operation("update", "case configuration", Level.ALL)
    push_case = Operation("push", "case", Level.ALL)


@dataclass(frozen=True)
class Grants:
    """What a caller's roles grant: per space id (or ``*``), the level on each feature.

    ``manages_spaces`` comes with the base privilege ``all`` on every space, as Kibana's ``space:manage``.
    """

    superuser: bool = False
    spaces: dict[str, dict[str, Level]] = field(default_factory=dict)
    manages_spaces: bool = False

    @classmethod
    def of(cls, privileges: Iterable[KibanaPrivilege], superuser: bool = False) -> "Grants":
        spaces: dict[str, dict[str, Level]] = {}
        manages_spaces = superuser
        for privilege in privileges:
            base = strongest(*(Level(name) for name in privilege.base if name in LEVEL_NAMES))
            levels = dict.fromkeys(FEATURES, base) if base else {}
            for feature_id, names in privilege.feature.items():
                feature = canonical_feature(feature_id)
                level = strongest(*(Level(name) for name in names if name in LEVEL_NAMES))
                if feature is not None and level is not None:
                    levels[feature] = strongest(levels.get(feature), level)
            for space_id in privilege.spaces:
                granted = spaces.setdefault(space_id, {})
                for feature, level in levels.items():
                    granted[feature] = strongest(granted.get(feature), level)
            manages_spaces = manages_spaces or (base is Level.ALL and ALL_SPACES in privilege.spaces)
        return cls(superuser=superuser, spaces=spaces, manages_spaces=manages_spaces)

    def in_space(self, space_id: str) -> dict[str, Level]:
        if self.superuser:
            return dict.fromkeys(FEATURES, Level.ALL)
        here, everywhere = self.spaces.get(space_id, {}), self.spaces.get(ALL_SPACES, {})
        return {
            feature: level
            for feature in FEATURES
            if (level := strongest(here.get(feature), everywhere.get(feature))) is not None
        }

    def within(self, limit: "Grants") -> "Grants":
        """What both grant (an API key restricted by role descriptors: its owner's grants within the
        descriptors'). Never the superuser: a restricted key manages no users, roles or others' keys."""
        spaces = {}
        for space_id in {ALL_SPACES, *self.spaces, *limit.spaces}:
            mine, allowed = self.in_space(space_id), limit.in_space(space_id)
            spaces[space_id] = {
                f: weakest(mine[f], allowed[f]) for f in FEATURES if f in mine and f in allowed
            }
        return Grants(spaces=spaces, manages_spaces=self.manages_spaces and limit.manages_spaces)

    def may_enter(self, space_id: str) -> bool:
        """Kibana's ``login`` at a space: any privilege there."""
        return bool(self.in_space(space_id))


@dataclass(frozen=True)
class ApiKeyRef:
    id: str
    name: str


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: who (``user``, ``roles``), how (``api_key``) and what they are granted."""

    user: User
    roles: tuple[str, ...] = ()
    grants: Grants = Grants()
    api_key: ApiKeyRef | None = None
    metadata: dict = field(default_factory=dict)

    @property
    def superuser(self) -> bool:
        return self.grants.superuser

    def access(self, space_id: str, disabled_features: Iterable[str] = ()) -> "Access":
        """What this caller may do in a space; a feature the space disables is out of reach even for
        the superuser, as in Kibana."""
        disabled = {canonical_feature(f) for f in disabled_features}
        levels = {f: level for f, level in self.grants.in_space(space_id).items() if f not in disabled}
        return Access(levels)


@dataclass(frozen=True)
class Access:
    """The levels a caller holds in one space, with Kibana's checks and 403 messages."""

    levels: dict[str, Level]

    def may(self, owner: str, level: Level) -> bool:
        granted = self.levels.get(OWNER_FEATURES[owner])
        return granted is not None and granted.covers(level)

    def owners(self, level: Level = Level.READ) -> list[str]:
        """The owners whose objects this caller may see (or change)."""
        return [owner for owner in OWNERS if self.may(owner, level)]

    def ensure(self, owners: Iterable[str], operation: Operation) -> None:
        """Raise Kibana's 403 unless every owner allows the operation (and, with no owner, any does)."""
        owners = sorted(set(owners))
        denied = [o for o in owners if not self.may(o, operation.level)]
        if denied or (not owners and not self.owners(operation.level)):
            raise forbidden(unauthorized_message(operation, owners))

    def allowed_owners(self, requested: list[str], operation: Operation) -> list[str]:
        """The requested owners (every one when none is named) the caller may read; a 403 when the
        caller may read no owner at all, as Kibana's find filter."""
        self.ensure([], operation)
        allowed = self.owners(operation.level)
        return [o for o in allowed if o in requested] if requested else allowed


def unauthorized_message(operation: Operation, owners: list[str]) -> str:
    scope = f'with owners: "{", ".join(owners)}"' if owners else "of any owner"
    return f"Unauthorized to {operation.verb} {operation.doc_type} {scope}"
