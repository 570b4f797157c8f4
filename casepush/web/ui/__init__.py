"""The web UI at ``/app``: server-rendered pages (Jinja2) for people, on the same domain functions,
users and privileges as the API. ``site.install`` registers it; the middleware hands ``/app`` requests
to ``session`` for authentication (a session cookie) and CSRF checks instead of Basic/ApiKey and
``kbn-xsrf``."""

import re

import msgspec
from aiohttp import web

#: ``/app/...`` and ``/s/{space_id}/app/...``; ``rest`` is the path within the UI.
UI_PATH = re.compile(r"^(?:/s/[^/]+)?/app(?P<rest>/.*)?\Z")


def is_ui_path(path: str) -> bool:
    return path.startswith(("/app", "/s/")) and UI_PATH.match(path) is not None


class Session(msgspec.Struct, frozen=True):
    """What the session cookie holds, sealed (encrypted and authenticated) with the server's key."""

    username: str
    #: Epoch seconds after which the cookie is refused.
    expires: float
    #: A digest of the password hash at login: changing the password ends every session.
    password: str
    #: The token every form of this session carries.
    csrf: str


#: The session of a signed-in UI request (set by ``session.authentication``).
SESSION = web.RequestKey("ui_session", Session)
