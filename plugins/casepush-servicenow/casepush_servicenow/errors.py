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
    """A failed call or operation. ``status`` is the HTTP status (or axios' error code) and ``data`` the
    body of ServiceNow's answer, when one came: they stay with the error through every rewording."""

    def __init__(self, message: str, status: int | str | None = None, data: Any = None):
        super().__init__(message)
        self.status = status
        self.data = data

    def reworded(self, what: str, method: str, endpoint: str) -> "ServiceNowError":
        error, reason = self._parts()
        parts = [f"{what}.", "Error:", error]
        if reason:
            parts += ["Reason:", reason]
        status = "none" if self.status is None else self.status
        parts += [f"[status={status}]", f"[method={method}]", f"[endpoint={endpoint}]"]
        return ServiceNowError(f"[Action][{NAME}]: {' '.join(parts)}", self.status, self.data)

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
