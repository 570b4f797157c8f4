"""Who the caller is and what Kibana's feature privileges let them do, with Kibana's 403 texts."""

from dataclasses import dataclass, field
from enum import Enum

from casepush.errors import forbidden
from casepush.types import OWNERS, User

#: The cases feature that guards each owner's objects (CONTRACT section 3).
OWNER_FEATURES = {
    "cases": "generalCases",
    "observability": "observabilityCases",
    "securitySolution": "securitySolutionCases",
}


class Level(Enum):
    READ = "read"
    ALL = "all"


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
    get_alerts = Operation("access", "alerts attached to the case", Level.READ)
    create_comment = Operation("create", "comments", Level.ALL)
    update_comment = Operation("update", "comments", Level.ALL)
    delete_comment = Operation("delete", "comments", Level.ALL)
    get_comment = Operation("access", "comments", Level.READ)
    get_user_actions = Operation("access", "user actions", Level.READ)
    find_configurations = Operation("access", "configurations", Level.READ)
    create_configuration = Operation("create", "configuration", Level.ALL)
    update_configuration = Operation("update", "configuration", Level.ALL)
    push_case = Operation("push", "case", Level.ALL)


@dataclass(frozen=True)
class Principal:
    """An authenticated caller.

    ``features`` maps a space id (or ``*``) to the level granted on each feature id.
    """

    user: User
    superuser: bool = False
    features: dict[str, dict[str, Level]] = field(default_factory=dict)

    def level(self, space_id: str, feature: str) -> Level | None:
        if self.superuser:
            return Level.ALL
        levels = [
            grants[feature]
            for space in (space_id, "*")
            if feature in (grants := self.features.get(space, {}))
        ]
        if Level.ALL in levels:
            return Level.ALL
        return levels[0] if levels else None

    def may(self, space_id: str, owner: str, level: Level) -> bool:
        granted = self.level(space_id, OWNER_FEATURES[owner])
        return granted is Level.ALL or (granted is Level.READ and level is Level.READ)

    def owners(self, space_id: str, level: Level = Level.READ) -> list[str]:
        """The owners whose objects this caller may see (or change) in a space."""
        return [owner for owner in OWNERS if self.may(space_id, owner, level)]

    def ensure(self, space_id: str, owners: list[str] | set[str], operation: Operation) -> None:
        """Raise Kibana's 403 unless every owner allows the operation."""
        denied = sorted({o for o in owners if not self.may(space_id, o, operation.level)})
        if denied or (not owners and not self.owners(space_id, operation.level)):
            raise forbidden(unauthorized_message(operation, sorted(set(owners))))


def unauthorized_message(operation: Operation, owners: list[str]) -> str:
    scope = f'with owners: "{", ".join(owners)}"' if owners else "of any owner"
    return f"Unauthorized to {operation.verb} {operation.doc_type} {scope}"
