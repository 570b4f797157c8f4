"""msgspec structs for every request and response body, with Kibana's field names.

Response structs double as the stored documents: the store keeps a struct's JSON and fills
``version`` (and computed totals) on read, so one class describes each object.
"""

from collections.abc import Sequence
from typing import Any, Literal, TypeGuard

import msgspec
from msgspec import UNSET, Struct, UnsetType

Owner = Literal["cases", "observability", "securitySolution"]
Status = Literal["open", "in-progress", "closed"]
Severity = Literal["low", "medium", "high", "critical"]
ClosureType = Literal["close-by-user", "close-by-pushing"]
CustomFieldType = Literal["text", "toggle"]
SortOrder = Literal["asc", "desc"]

OWNERS: tuple[str, ...] = ("cases", "observability", "securitySolution")


def is_owner(value: str) -> TypeGuard[Owner]:
    """Whether a path's or form's owner is one of Kibana's."""
    return value in OWNERS


STATUSES: tuple[str, ...] = ("open", "in-progress", "closed")
SEVERITIES: tuple[str, ...] = ("low", "medium", "high", "critical")


class User(Struct, kw_only=True):
    """Kibana's user object: the three keys are always present, possibly null."""

    email: str | None = None
    full_name: str | None = None
    username: str | None = None
    profile_uid: str | UnsetType = UNSET


class Assignee(Struct, forbid_unknown_fields=True):
    uid: str


class Settings(Struct, forbid_unknown_fields=True):
    syncAlerts: bool
    #: Kibana 9.x: extract observables from attached alerts. casepush has no observables; it keeps the
    #: value as given.
    extractObservables: bool | UnsetType = UNSET


class CaseConnector(Struct, forbid_unknown_fields=True):
    id: str
    name: str
    type: str
    fields: dict[str, Any] | None


class CaseCustomField(Struct, forbid_unknown_fields=True):
    key: str
    type: CustomFieldType
    value: str | bool | None


class ExternalService(Struct, kw_only=True):
    connector_id: str
    connector_name: str
    external_id: str
    external_title: str
    external_url: str
    pushed_at: str
    pushed_by: User | None


# --- attachments --------------------------------------------------------------------------


class AlertRule(Struct, forbid_unknown_fields=True):
    id: str | None = None
    name: str | None = None


class AddUserComment(Struct, tag_field="type", tag="user", forbid_unknown_fields=True):
    comment: str
    owner: Owner


class AddAlertComment(Struct, tag_field="type", tag="alert", forbid_unknown_fields=True):
    alertId: str | list[str]
    index: str | list[str]
    rule: AlertRule
    owner: Owner


AddComment = AddUserComment | AddAlertComment


class UpdateUserComment(AddUserComment, tag="user"):
    id: str
    version: str


class UpdateAlertComment(AddAlertComment, tag="alert"):
    id: str
    version: str


UpdateComment = UpdateUserComment | UpdateAlertComment


class _AttachmentMeta(Struct, kw_only=True):
    id: str
    version: str = ""
    owner: Owner
    created_at: str
    created_by: User
    pushed_at: str | None = None
    pushed_by: User | None = None
    updated_at: str | None = None
    updated_by: User | None = None


class UserComment(_AttachmentMeta, tag_field="type", tag="user", kw_only=True):
    comment: str


class AlertComment(_AttachmentMeta, tag_field="type", tag="alert", kw_only=True):
    alertId: str | list[str]
    index: str | list[str]
    rule: AlertRule


Attachment = UserComment | AlertComment


def attachment_type(attachment: Attachment | AddComment) -> str:
    """The ``type`` tag of an attachment or attachment request (``user``, ``alert``)."""
    tag = type(attachment).__struct_config__.tag
    assert isinstance(tag, str)  # every attachment struct is tagged with its type's name
    return tag


def as_list(value: str | Sequence[str] | None) -> list[str]:
    """Kibana's "one or many" values (``alertId``, query filters) as a list."""
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


# --- cases --------------------------------------------------------------------------------


class CreateCase(Struct, forbid_unknown_fields=True, kw_only=True):
    title: str
    description: str
    tags: list[str]
    connector: CaseConnector
    settings: Settings
    owner: Owner
    severity: Severity = "low"
    assignees: list[Assignee] | None = None
    category: str | None = None
    customFields: list[CaseCustomField] | None = None


class CasePatch(Struct, forbid_unknown_fields=True, kw_only=True):
    """One entry of ``PATCH /api/cases``: unset fields are left alone."""

    id: str
    version: str
    title: str | UnsetType = UNSET
    description: str | UnsetType = UNSET
    tags: list[str] | UnsetType = UNSET
    status: Status | UnsetType = UNSET
    severity: Severity | UnsetType = UNSET
    connector: CaseConnector | UnsetType = UNSET
    settings: Settings | UnsetType = UNSET
    owner: Owner | UnsetType = UNSET
    assignees: list[Assignee] | UnsetType = UNSET
    category: str | UnsetType | None = UNSET
    customFields: list[CaseCustomField] | UnsetType = UNSET


class PatchCases(Struct, forbid_unknown_fields=True):
    cases: list[CasePatch]


class Case(Struct, kw_only=True):
    id: str
    version: str = ""
    title: str
    description: str
    tags: list[str]
    status: Status = "open"
    severity: Severity = "low"
    owner: Owner
    assignees: list[Assignee] = []
    settings: Settings
    category: str | None = None
    customFields: list[CaseCustomField] = []
    connector: CaseConnector
    external_service: ExternalService | None = None
    created_at: str
    created_by: User
    updated_at: str | None = None
    updated_by: User | None = None
    closed_at: str | None = None
    closed_by: User | None = None
    duration: int | None = None
    in_progress_at: str | None = None
    time_to_acknowledge: int | None = None
    time_to_investigate: int | None = None
    time_to_resolve: int | None = None
    totalComment: int = 0
    totalAlerts: int = 0
    comments: list[Attachment] = []


#: Kibana's ``incremental_id.text`` searches its cases' numbers (``#12``); casepush numbers no cases, so
#: that field is accepted and matches nothing.
SearchField = Literal["title", "description", "incremental_id.text"]


class FindCasesQuery(Struct, forbid_unknown_fields=True, kw_only=True):
    """The query string of ``GET /api/cases/_find`` (and of the web UI's case list)."""

    page: int = 1
    perPage: int = 20
    sortField: Literal["createdAt", "updatedAt", "closedAt", "title", "category", "status", "severity"] = (
        "createdAt"
    )
    sortOrder: SortOrder = "desc"
    status: Status | list[Status] | None = None
    severity: Severity | list[Severity] | None = None
    owner: Owner | list[Owner] | None = None
    tags: str | list[str] | None = None
    reporters: str | list[str] | None = None
    category: str | list[str] | None = None
    assignees: str | list[str] | None = None
    search: str | None = None
    searchFields: SearchField | list[SearchField] | None = None
    defaultSearchOperator: Literal["AND", "OR"] = "OR"
    from_: str | None = msgspec.field(default=None, name="from")
    to: str | None = None


class FindCasesResponse(Struct):
    cases: list[Case]
    page: int
    per_page: int
    total: int
    count_open_cases: int
    count_in_progress_cases: int
    count_closed_cases: int


class StatusCounts(Struct):
    count_open_cases: int
    count_in_progress_cases: int
    count_closed_cases: int


class FindCommentsResponse(Struct):
    comments: list[Attachment]
    page: int
    per_page: int
    total: int


class CaseAlert(Struct):
    id: str
    index: str
    attached_at: str


class CaseOfAlert(Struct):
    id: str
    title: str
    description: str
    status: Status
    createdAt: str
    totals: dict[str, int]


# --- user actions -------------------------------------------------------------------------

UserActionType = Literal[
    "assignees",
    "comment",
    "connector",
    "description",
    "pushed",
    "tags",
    "title",
    "status",
    "settings",
    "severity",
    "create_case",
    "delete_case",
    "category",
    "customFields",
    "sync",
]
UserActionAction = Literal["add", "create", "delete", "update", "push_to_service"]


class UserAction(Struct, kw_only=True):
    id: str
    version: str = ""
    type: UserActionType
    action: UserActionAction
    payload: dict[str, Any]
    comment_id: str | None = None
    created_at: str
    created_by: User
    owner: Owner


class FindUserActionsResponse(Struct):
    userActions: list[UserAction]
    page: int
    perPage: int
    total: int


# --- configuration ------------------------------------------------------------------------


class CustomFieldConfig(Struct, forbid_unknown_fields=True, kw_only=True):
    key: str
    label: str
    type: CustomFieldType
    required: bool
    defaultValue: str | bool | UnsetType | None = UNSET


class Template(Struct, forbid_unknown_fields=True, kw_only=True):
    key: str
    name: str
    description: str | UnsetType = UNSET
    tags: list[str] | UnsetType = UNSET
    caseFields: dict[str, Any] | UnsetType | None = UNSET


class ConnectorMapping(Struct, frozen=True):
    """How a case field goes to the external system's (Kibana's connector mappings): ``source`` is
    ``title``, ``description``, ``tags`` or ``comments``; ``action_type`` ``overwrite``, ``append`` or
    ``nothing``."""

    source: str
    target: str
    action_type: str


class ObservableTypeConfig(Struct, forbid_unknown_fields=True):
    """An observable type of Kibana 9.x's configuration; casepush keeps them as given."""

    key: str
    label: str


class CreateConfiguration(Struct, forbid_unknown_fields=True, kw_only=True):
    closure_type: ClosureType
    connector: CaseConnector
    owner: Owner
    customFields: list[CustomFieldConfig] = []
    templates: list[Template] = []
    observableTypes: list[ObservableTypeConfig] | UnsetType = UNSET
    #: Kibana's newest switch for its cases analytics indices; casepush has none and ignores it.
    analytics_enabled: bool | UnsetType = UNSET


class PatchConfiguration(Struct, forbid_unknown_fields=True, kw_only=True):
    version: str
    closure_type: ClosureType | UnsetType = UNSET
    connector: CaseConnector | UnsetType = UNSET
    customFields: list[CustomFieldConfig] | UnsetType = UNSET
    templates: list[Template] | UnsetType = UNSET
    observableTypes: list[ObservableTypeConfig] | UnsetType = UNSET
    #: As in ``CreateConfiguration``: accepted and ignored.
    analytics_enabled: bool | UnsetType = UNSET


class Configuration(Struct, kw_only=True):
    id: str
    version: str = ""
    owner: Owner
    closure_type: ClosureType
    connector: CaseConnector
    customFields: list[CustomFieldConfig] = []
    templates: list[Template] = []
    #: Present once set (Kibana 9.x's configurations carry it).
    observableTypes: list[ObservableTypeConfig] | UnsetType = UNSET
    #: The configured connector type's mappings (Kibana makes them from the type when the connector is
    #: set): not stored, they follow from the type.
    mappings: list[ConnectorMapping] = []
    error: str | None = None
    created_at: str
    created_by: User
    updated_at: str | None = None
    updated_by: User | None = None


# --- spaces and security ----------------------------------------------------------------

#: In Kibana's order, which its validation messages list.
Solution = Literal["es", "oblt", "security", "classic"]


class Space(Struct, kw_only=True, forbid_unknown_fields=True):
    """Kibana's space; the same struct is the request body (``_reserved`` is accepted, never stored)."""

    id: str
    name: str
    description: str | UnsetType = UNSET
    initials: str | UnsetType = UNSET
    color: str | UnsetType = UNSET
    disabledFeatures: list[str] = []
    imageUrl: str | UnsetType = UNSET
    solution: Solution | UnsetType = UNSET
    reserved: bool | UnsetType = msgspec.field(default=UNSET, name="_reserved")


class AuthorizedPurposes(Struct):
    """For each of Kibana's purposes of the spaces list, whether the caller has it in a space."""

    any: bool
    copySavedObjectsIntoSpace: bool
    findSavedObjects: bool
    shareSavedObjectsIntoSpace: bool


class SpaceWithPurposes(Space, kw_only=True):
    """A space as ``GET /api/spaces/space?include_authorized_purposes=true`` lists it."""

    authorizedPurposes: AuthorizedPurposes


class KibanaPrivilege(Struct, forbid_unknown_fields=True):
    base: list[str] = []
    feature: dict[str, list[str]] = {}
    spaces: list[str] = msgspec.field(default_factory=lambda: ["*"])


class ElasticsearchPrivileges(Struct, forbid_unknown_fields=True):
    """Kept as given: casepush has no indices, but Kibana's role bodies carry this part."""

    cluster: list[str] = []
    remote_cluster: list[dict[str, Any]] | UnsetType = UNSET
    indices: list[dict[str, Any]] = []
    remote_indices: list[dict[str, Any]] | UnsetType = UNSET
    run_as: list[str] = []
    global_: dict[str, Any] | UnsetType = msgspec.field(default=UNSET, name="global")


class RoleBody(Struct, forbid_unknown_fields=True, kw_only=True, omit_defaults=True):
    description: str | None = None
    metadata: dict[str, Any] = {}
    elasticsearch: ElasticsearchPrivileges = msgspec.field(default_factory=ElasticsearchPrivileges)
    kibana: list[KibanaPrivilege] = []


class Role(Struct, kw_only=True):
    name: str
    description: str | UnsetType = UNSET
    metadata: dict[str, Any]
    transient_metadata: dict[str, Any]
    elasticsearch: ElasticsearchPrivileges
    kibana: list[KibanaPrivilege]
    transform_error: list[str] = msgspec.field(default_factory=list, name="_transform_error")
    unrecognized_applications: list[str] = msgspec.field(
        default_factory=list, name="_unrecognized_applications"
    )


class PutUser(Struct, forbid_unknown_fields=True, kw_only=True):
    """Elasticsearch's ``PUT /_security/user/{username}`` body."""

    username: str | UnsetType = UNSET
    password: str | UnsetType = UNSET
    #: A hash as casepush stores them (``scrypt$...``), instead of ``password``.
    password_hash: str | UnsetType = UNSET
    roles: list[str] | UnsetType = UNSET
    full_name: str | None = None
    email: str | None = None
    metadata: dict[str, Any] = {}
    enabled: bool = True


class UserInfo(Struct, kw_only=True):
    username: str
    roles: list[str]
    full_name: str | None
    email: str | None
    metadata: dict[str, Any]
    enabled: bool


class PutUserResult(Struct):
    created: bool


class DeleteUserResult(Struct):
    found: bool


class ChangePassword(Struct, forbid_unknown_fields=True, kw_only=True):
    password: str | UnsetType = UNSET
    password_hash: str | UnsetType = UNSET


class ApplicationPrivileges(Struct, forbid_unknown_fields=True, kw_only=True):
    """Privileges of an Elasticsearch application; Kibana's is ``kibana-.kibana``, its privileges
    ``all``, ``read``, ``space_all``, ``space_read`` and ``feature_<id>.<privilege>``, its resources
    ``*`` and ``space:<id>``."""

    application: str
    privileges: list[str]
    resources: list[str]


class RoleDescriptor(Struct, forbid_unknown_fields=True, kw_only=True):
    """Elasticsearch's role descriptor, as an API key's ``role_descriptors`` hold them."""

    cluster: list[str] = []
    indices: list[dict[str, Any]] = []
    applications: list[ApplicationPrivileges] = []
    run_as: list[str] = []
    metadata: dict[str, Any] = {}
    transient_metadata: dict[str, Any] = msgspec.field(default_factory=lambda: {"enabled": True})
    remote_indices: list[dict[str, Any]] | UnsetType = UNSET
    remote_cluster: list[dict[str, Any]] | UnsetType = UNSET
    restriction: dict[str, Any] | UnsetType = UNSET
    description: str | UnsetType = UNSET
    global_: dict[str, Any] | UnsetType = msgspec.field(default=UNSET, name="global")


class CreateApiKey(Struct, forbid_unknown_fields=True, kw_only=True):
    name: str | UnsetType = UNSET
    expiration: str | None = None
    role_descriptors: dict[str, RoleDescriptor] = {}
    metadata: dict[str, Any] = {}


class CreatedApiKey(Struct, kw_only=True):
    id: str
    name: str
    expiration: int | UnsetType = UNSET
    api_key: str
    encoded: str


class ApiKeyInfo(Struct, kw_only=True):
    id: str
    name: str
    type: str = "rest"
    creation: int
    expiration: int | UnsetType = UNSET
    invalidated: bool
    invalidation: int | UnsetType = UNSET
    username: str
    realm: str
    realm_type: str
    metadata: dict[str, Any]
    role_descriptors: dict[str, RoleDescriptor] = {}
    #: With ``with_limited_by=true``: the owner's roles, which the key never goes beyond.
    limited_by: list[dict[str, RoleDescriptor]] | UnsetType = UNSET


class ApiKeyList(Struct):
    api_keys: list[ApiKeyInfo]


class InvalidateApiKeys(Struct, forbid_unknown_fields=True, kw_only=True):
    ids: list[str] | UnsetType = UNSET
    id: str | UnsetType = UNSET
    name: str | UnsetType = UNSET
    username: str | UnsetType = UNSET
    realm_name: str | UnsetType = UNSET
    owner: bool = False


class InvalidatedApiKeys(Struct):
    invalidated_api_keys: list[str]
    previously_invalidated_api_keys: list[str]
    error_count: int = 0


class Realm(Struct):
    name: str
    type: str


class ApiKeyName(Struct):
    id: str
    name: str


class Authenticated(UserInfo, kw_only=True):
    """``GET /_security/_authenticate``: the user, then how they signed in."""

    authentication_realm: Realm
    lookup_realm: Realm
    authentication_type: Literal["realm", "api_key"]
    api_key: ApiKeyName | UnsetType = UNSET


# --- connectors -------------------------------------------------------------------------


class CreateConnector(Struct, forbid_unknown_fields=True, kw_only=True):
    name: str
    connector_type_id: str
    config: dict[str, Any] = {}
    secrets: dict[str, Any] = {}


class UpdateConnector(Struct, forbid_unknown_fields=True, kw_only=True):
    name: str
    config: dict[str, Any] = {}
    secrets: dict[str, Any] = {}


class ExecuteConnector(Struct, forbid_unknown_fields=True):
    params: dict[str, Any]


class ConnectorInfo(Struct, kw_only=True):
    """A connector as Kibana answers it; ``referenced_by_count`` only in lists, ``config`` and
    ``is_missing_secrets`` never for preconfigured connectors, secrets never at all."""

    id: str
    name: str
    config: dict[str, Any] | UnsetType = UNSET
    connector_type_id: str
    is_preconfigured: bool
    is_deprecated: bool
    referenced_by_count: int | UnsetType = UNSET
    is_missing_secrets: bool | UnsetType = UNSET
    is_system_action: bool


class ConnectorTypeInfo(Struct, kw_only=True):
    id: str
    name: str
    enabled: bool
    enabled_in_config: bool
    enabled_in_license: bool
    minimum_license_required: str
    supported_feature_ids: list[str]
    is_system_action_type: bool
    is_deprecated: bool


class CaseConnectorInfo(Struct, kw_only=True):
    """An item of ``GET /api/cases/configure/connectors/_find`` (Kibana's camelCase)."""

    id: str
    actionTypeId: str
    name: str
    config: dict[str, Any] | UnsetType = UNSET
    isPreconfigured: bool
    isDeprecated: bool
    isSystemAction: bool
    isMissingSecrets: bool | UnsetType = UNSET
    referencedByCount: int


class ExecuteResult(Struct, kw_only=True):
    status: Literal["ok", "error"]
    message: str | UnsetType = UNSET
    data: Any = UNSET
    connector_id: str
    retry: bool | UnsetType = UNSET
    service_message: str | UnsetType = UNSET


class PushedExternalService(Struct, kw_only=True):
    """The latest push's ``externalService`` in ``GET /internal/cases/{case_id}/_connectors``.

    Kibana's io-ts decoding puts ``connector_id`` first and keeps the rest as its push stores them.
    """

    connector_id: str
    pushed_at: str
    pushed_by: User | None
    connector_name: str
    external_id: str
    external_title: str
    external_url: str


class CaseConnectorPushDetails(Struct, kw_only=True):
    latestUserActionPushDate: str
    oldestUserActionPushDate: str
    externalService: PushedExternalService


class CaseConnectorPush(Struct, kw_only=True):
    needsToBePushed: bool
    hasBeenPushed: bool
    details: CaseConnectorPushDetails | UnsetType = UNSET


class CaseConnectorEntry(Struct, kw_only=True):
    """One connector of ``GET /internal/cases/{case_id}/_connectors``; ``push`` comes first because
    Kibana's response decoding (an io-ts intersection led by ``push``) rebuilds the object that way."""

    push: CaseConnectorPush
    id: str
    type: str
    fields: dict[str, Any] | None
    name: str


# --- casepush's own: automatic push and case sync (/api/casepush/...) ----------------------

#: ``updates``: cases whose latest push went to the connector; ``all``: their first push too.
AutomaticPushMode = Literal["updates", "all"]
#: ``idle``: nothing to push; ``pending``: a change waits for its quiet period; ``running``: being
#: pushed; ``retrying``: the last attempt failed and another is due; ``failed``: it will not be retried
#: until the case changes again.
AutomaticPushState = Literal["idle", "pending", "running", "retrying", "failed"]
AutomaticPushOutcome = Literal["success", "failure", "skipped"]


class AutomaticPushRequest(Struct, forbid_unknown_fields=True, kw_only=True):
    """``PUT /api/casepush/automatic_push/{owner}/{connector_id}``: whether the owner's cases that use
    the connector are pushed to it by themselves when they change."""

    enabled: bool = True
    mode: AutomaticPushMode = "updates"
    #: Seconds after the latest change before the push, so that a burst of edits makes one push (None:
    #: the server's ``automatic_push_quiet_period``).
    quiet_period: float | None = None


class AutomaticPushSetting(AutomaticPushRequest, kw_only=True):
    #: As saved: the server's default filled in.
    quiet_period: float
    owner: Owner
    connector_id: str
    updated_at: str
    updated_by: User


class AutomaticPushSettings(Struct):
    settings: list[AutomaticPushSetting]


class CaseSyncRequest(Struct, forbid_unknown_fields=True, kw_only=True):
    """``PUT /api/casepush/connectors/{connector_id}/case_sync``: what pushes to the connector send
    beyond Kibana's fields, what comes back from its system (two-way sync), and the type's options
    (its ``state_options``: the status mapping, both ways)."""

    push_status: bool = False
    push_assignees: bool = False
    #: Two-way sync: the external status (mapped to the case's), new and edited comments, title and
    #: description come back to the case. Left out, Kibana's defaults (its ``_sync`` field rules): status,
    #: title and description come back (when the type can bring them), comments do not.
    pull_status: bool | UnsetType = UNSET
    pull_comments: bool | UnsetType = UNSET
    pull_title: bool | UnsetType = UNSET
    pull_description: bool | UnsetType = UNSET
    #: Seconds between polls of the external system for changes (None: no polling; webhooks only).
    poll_interval: float | None = None
    #: The inbound webhook's secret, write-only: a string sets it, null removes it, leaving it out keeps it.
    inbound_secret: str | UnsetType | None = UNSET
    options: dict[str, Any] = {}


class CaseSync(CaseSyncRequest, kw_only=True):
    connector_id: str
    connector_type_id: str
    #: What the connector's type can push beyond Kibana's fields: ``status``, ``assignees``.
    pushable: list[str]
    #: What the type can bring back: ``status``, ``comments``, ``title``, ``description``.
    pullable: list[str]
    #: Whether the type takes inbound webhook calls, and is polled.
    receives: bool
    polls: bool
    #: An inbound secret is set (the secret itself is never shown).
    has_inbound_secret: bool = False
    #: Where the external system calls (in this space), when the type takes calls.
    inbound_path: str | None = None


class ConnectorSyncState(Struct, kw_only=True):
    """A connector's two-way sync: its last inbound call and poll, their errors, what was applied."""

    connector_id: str
    last_inbound_at: str | None = None
    last_inbound_error: str | None = None
    last_poll_at: str | None = None
    last_poll_error: str | None = None
    next_poll_at: str | None = None
    changes_applied: int = 0


class InboundResult(Struct, kw_only=True):
    """What an inbound call did: changes applied, and those not (already applied, casepush's own, of
    incidents casepush did not push, or older than the case's)."""

    applied: int
    ignored: int


class CaseAutomaticPush(Struct, kw_only=True):
    """A case's automatic push to one connector: whether it is on, what waits, how the last try went."""

    connector_id: str
    #: Automatic push is on for the case's owner and this connector, and the case qualifies (its
    #: connector, and for ``updates`` a push to it already).
    enabled: bool
    mode: AutomaticPushMode | None = None
    state: AutomaticPushState = "idle"
    #: When the waiting push runs: the end of the quiet period, or the next retry.
    due_at: str | None = None
    pending_since: str | None = None
    attempts: int = 0
    caused_by: User | None = None
    last_attempt_at: str | None = None
    last_outcome: AutomaticPushOutcome | None = None
    last_error: str | None = None
    last_pushed_at: str | None = None


class CaseAutomaticPushes(Struct):
    automatic_pushes: list[CaseAutomaticPush]


# --- service ------------------------------------------------------------------------------


class ErrorBody(Struct):
    statusCode: int
    error: str
    message: str


class ElasticsearchCause(Struct, omit_defaults=True):
    type: str
    reason: str
    #: Response headers Elasticsearch repeats in the body (a 401's ``WWW-Authenticate``).
    header: dict[str, str | list[str]] | UnsetType = UNSET


class ElasticsearchError(Struct, omit_defaults=True):
    root_cause: list[ElasticsearchCause]
    type: str
    reason: str
    header: dict[str, str | list[str]] | UnsetType = UNSET


class ElasticsearchErrorBody(Struct):
    """Elasticsearch's error body, on its paths (``/_security``); a plain text ``error`` when no handler
    took the request (an unknown path or method)."""

    error: ElasticsearchError | str
    status: int


#: Kibana's service status levels, from best to worst.
ServiceLevel = Literal["available", "degraded", "unavailable", "critical"]


class StatusLevel(Struct, kw_only=True):
    """Kibana's ``ServiceStatus`` of one service: how available it is, in a sentence too."""

    level: ServiceLevel
    summary: str


class DatabaseCheck(Struct):
    """What the status page's database check measured: the trivial query's time, answered or not."""

    latency_ms: float


class DatabaseStatus(StatusLevel, kw_only=True):
    meta: DatabaseCheck


class CoreStatus(Struct):
    """The services every casepush has (Kibana's ``status.core`` has elasticsearch and savedObjects)."""

    database: DatabaseStatus


class PluginInfo(Struct):
    version: str | None
    connector_types: list[str]


class PluginStatus(StatusLevel, kw_only=True):
    meta: PluginInfo


class OverallStatus(Struct):
    """Kibana's ``status``: the overall level, the core services' and the plugins' by name."""

    overall: StatusLevel
    core: CoreStatus
    plugins: dict[str, PluginStatus]


class VersionInfo(Struct, kw_only=True):
    """Kibana's ``version``: the Kibana version whose API casepush speaks, and its build."""

    number: str
    build_hash: str
    build_number: int
    build_snapshot: bool
    build_flavor: Literal["traditional", "serverless"] = "traditional"
    build_date: str


class CasepushInfo(Struct):
    """casepush's own version, beside Kibana's fields."""

    version: str


LegacyState = Literal["green", "yellow", "red"]


class LegacyOverallStatus(Struct, kw_only=True):
    """The overall status in Kibana's 7.x format (``?v7format=true``)."""

    since: str
    state: LegacyState
    title: str
    nickname: str
    icon: str
    uiColor: str


class LegacyServiceStatus(Struct, kw_only=True):
    """One service of the 7.x format, ``core:<name>@<version>`` or ``plugin:<name>@<version>``."""

    id: str
    message: str
    since: str
    state: LegacyState
    icon: str
    uiColor: str


class LegacyStatusInfo(Struct):
    overall: LegacyOverallStatus
    statuses: list[LegacyServiceStatus]


class _StatusPage(Struct, kw_only=True):
    name: str
    version: VersionInfo
    casepush: CasepushInfo


class ServiceStatus(_StatusPage, kw_only=True):
    status: OverallStatus


class LegacyStatusPage(_StatusPage, kw_only=True):
    """``GET /api/status?v7format=true``: the same page with the status in Kibana's 7.x format."""

    status: LegacyStatusInfo


def encode(obj: Any) -> bytes:
    return _encoder.encode(obj)


_encoder = msgspec.json.Encoder()
