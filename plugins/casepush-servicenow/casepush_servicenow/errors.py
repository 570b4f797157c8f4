"""Kibana's ServiceNow error wording (``addServiceMessageToError``).

Kibana rewrites one error at each level it passes: the call (``Unable to get incident with id X``), then
the operation that made it (``Unable to create incident``), each prefixing ``[Action][ServiceNow]: <what>.
Error: <previous message> Reason: <ServiceNow's error> [status=..] [method=..] [endpoint=..]``. A failed
read-back after a create therefore names both, as in Kibana.
"""

import json
import re
from typing import Any

from casepush.connectors import ConnectorError
from casepush.http import OutboundResponse

NAME = "ServiceNow"
_NO_REASON = "unknown: no error in error response"


class ServiceNowError(ConnectorError):
    """A failed call or operation.

    ``code`` is what Kibana's message shows as ``[status=...]``: the HTTP status, axios' error code of a
    call that got no answer (``ECONNREFUSED``), or None. ``status`` is ``ConnectorError``'s: the HTTP
    status of the answer the error comes from (by default ``code`` when that is one), None when no
    answer came, and ``retry_after`` its ``Retry-After``; casepush retries automatic pushes by them (and
    by ``retryable``, when the status does not tell).
    ``data`` is the body of ServiceNow's answer. All stay with the error through every rewording.
    """

    def __init__(
        self,
        message: str,
        code: int | str | None = None,
        data: Any = None,
        status: int | None = None,
        retry_after: float | None = None,
        retryable: bool | None = None,
    ):
        if status is None and isinstance(code, int):
            status = code
        super().__init__(message, status, retry_after, retryable)
        self.code = code
        self.data = data

    @classmethod
    def answered(
        cls, message: str, response: OutboundResponse, data: Any = None, shown: bool = True
    ) -> "ServiceNowError":
        """An error about ServiceNow's answer, with its status (shown in the message unless ``shown`` is
        false, as Kibana shows none for a refused token or a hibernating instance) and Retry-After."""
        code = response.status if shown else None
        return cls(message, code, data, status=response.status, retry_after=response.retry_after)

    def reworded(self, what: str, method: str, endpoint: str) -> "ServiceNowError":
        error, reason = self._parts()
        parts = [f"{what}.", "Error:", error]
        if reason:
            parts += ["Reason:", reason]
        code = "none" if self.code is None else self.code
        parts += [f"[status={code}]", f"[method={method}]", f"[endpoint={endpoint}]"]
        message = f"[Action][{NAME}]: {' '.join(parts)}"
        return ServiceNowError(message, self.code, self.data, self.status, self.retry_after, self.retryable)

    def _parts(self) -> tuple[str, str]:
        """Kibana's ``createErrorMessage``: ServiceNow's ``error.message: error.detail`` when it answered,
        an OAuth ``{"error", "error_description"}`` message unpacked, else the message alone."""
        if self.data:
            error = self.data.get("error") if isinstance(self.data, dict) else None
            message = error.get("message") if isinstance(error, dict) else None
            detail = error.get("detail") if isinstance(error, dict) else None
            if not message:
                return self.message, _NO_REASON
            return self.message, f"{message}: {detail}" if detail else str(message)
        try:
            parsed = json.loads(self.message)
        except ValueError:
            return self.message, ""
        if isinstance(parsed, dict) and isinstance(parsed.get("error"), str):
            return parsed["error"], str(parsed.get("error_description") or "")
        return self.message, ""


def axios_code(message: str) -> str | None:
    """The axios error code Kibana shows as the status of a call that got no answer."""
    found = re.match(r"(?:connect|getaddrinfo) (E[A-Z]+)", message)
    if found:
        return found.group(1)
    return "ECONNABORTED" if message.startswith("timeout of") else None


def answer_body(response: OutboundResponse) -> Any:
    """The body as axios gives it: parsed JSON, else the text."""
    try:
        return response.json()
    except ValueError:
        return response.text()
