"""Errors that become Kibana's ``{statusCode, error, message}`` bodies."""

from http import HTTPStatus


class KibanaError(Exception):
    """An error with an HTTP status and a message shown to the client as is.

    ``kind`` is the Elasticsearch exception type (``validation_exception``...) its error body names
    when the error is answered on an Elasticsearch path; unset, the status decides
    (``casepush.web.elasticsearch``).
    """

    def __init__(
        self, status: int, message: str, kind: str | None = None, headers: dict[str, str] | None = None
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind
        #: Headers of the answer, e.g. a 429's ``Retry-After``.
        self.headers = headers or {}

    @property
    def reason(self) -> str:
        return HTTPStatus(self.status).phrase


def bad_request(message: str, kind: str | None = None) -> KibanaError:
    return KibanaError(400, message, kind)


def forbidden(message: str) -> KibanaError:
    return KibanaError(403, message)


def not_found(message: str) -> KibanaError:
    return KibanaError(404, message)


def conflict(message: str) -> KibanaError:
    return KibanaError(409, message)


def saved_object_not_found(so_type: str, so_id: str) -> KibanaError:
    """The saved-objects text Kibana answers for an unknown (or other space's) id."""
    return not_found(f"Saved object [{so_type}/{so_id}] not found")


def relayed(kind: str, reason: str) -> str:
    """How Kibana words an Elasticsearch error it passes on: the ES client's message, then the reason."""
    return f"[{kind}\n\tRoot causes:\n\t\t{kind}: {reason}]: {reason}"
