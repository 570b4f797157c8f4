"""What users, roles and API keys share: Elasticsearch's names, realms, validation and 403 texts.

Only a superuser manages users and roles, and other users' API keys; every user may create,
list and invalidate their own keys (Elasticsearch's ``manage_own_api_key``).
"""

import re

from casepush.domain import Context
from casepush.errors import KibanaError, bad_request, forbidden
from casepush.security.auth import SUPERUSER
from casepush.types import Realm

MAX_NAME_LENGTH = 507
#: Printable ASCII without leading or trailing whitespace, as Elasticsearch's native realm allows.
_NAME = re.compile(r"^[!-~]([ -~]*[!-~])?$")

NATIVE_REALM = Realm(name="default_native", type="native")
RESERVED_REALM = Realm(name="reserved", type="reserved")
API_KEY_REALM = Realm(name="_es_api_key", type="_es_api_key")


def realm_of(username: str | None) -> Realm:
    """The realm a user signs in through: ``elastic`` is reserved, the rest are native users."""
    return RESERVED_REALM if username == SUPERUSER else NATIVE_REALM


def name_rule(kind: str) -> str:
    return (
        f"{kind} names must be at least 1 and no more than {MAX_NAME_LENGTH} characters. They can contain"
        " alphanumeric characters (a-z, A-Z, 0-9), spaces, punctuation, and printable symbols in the Basic"
        " Latin (ASCII) block. Leading or trailing whitespace is not allowed."
    )


def valid_name(name: str) -> bool:
    return len(name) <= MAX_NAME_LENGTH and bool(_NAME.match(name))


#: Elasticsearch's two kinds of "Validation Failed": a request's own checks, and the checks of a request
#: against what is stored (or of a password as it is read).
REQUEST_CHECKS = "action_request_validation_exception"
STORED_CHECKS = "validation_exception"


def validation_failed(problems: list[str], kind: str = REQUEST_CHECKS) -> KibanaError:
    """Elasticsearch's numbered list of everything wrong with a request."""
    return bad_request("Validation Failed: " + "".join(f"{n}: {p};" for n, p in enumerate(problems, 1)), kind)


#: Cluster privileges short of ``manage_security`` that grant an action, least first, as Elasticsearch
#: lists them in its 403.
_ALSO_GRANTED_BY = {
    "user/get": ("read_security",),
    "role/get": ("read_security",),
    "api_key/get": ("read_security", "manage_api_key"),
    "api_key/invalidate": ("manage_api_key",),
}


def ensure_superuser(ctx: Context, action: str) -> None:
    """Elasticsearch's 403 for a cluster action that needs ``manage_security``: it names an API key
    (which has no roles of its own) or the user and their roles, sorted."""
    if not ctx.principal.superuser:
        api_key, user = ctx.principal.api_key, f"user [{ctx.user.username}]"
        who = (
            f"API key id [{api_key.id}] of {user}"
            if api_key
            else f"{user} with effective roles [{','.join(sorted(ctx.principal.roles))}]"
        )
        privileges = ",".join([*_ALSO_GRANTED_BY.get(action, ()), "manage_security", "all"])
        raise forbidden(
            f"action [cluster:admin/xpack/security/{action}] is unauthorized for {who},"
            f" this action is granted by the cluster privileges [{privileges}]"
        )
