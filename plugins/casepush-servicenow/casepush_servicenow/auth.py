"""How calls to ServiceNow are authenticated: Basic, or Kibana's OAuth JWT bearer grant.

Under OAuth a JWT signed with the connector's private key is exchanged at ``{apiUrl}/oauth_token.do``
for an access token, kept in memory per connector until it expires (Kibana keeps it in a saved object).
"""

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
import jwt
import msgspec
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from casepush.http import IDEMPOTENT, OutboundClient, OutboundError, OutboundResponse, Retry
from casepush_servicenow.errors import ServiceNowError, answer_body, axios_code
from casepush_servicenow.schema import ServiceNowConfig, ServiceNowSecrets

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
#: Lifetime of the assertion, as Kibana's ``createJWTAssertion``.
ASSERTION_SECONDS = 3600


@dataclass(frozen=True)
class _Token:
    header: str
    expires_at: float


#: Access tokens by connector (id and a digest of its settings, so that new credentials get a new token).
_tokens: dict[str, _Token] = {}


def create_assertion(config: ServiceNowConfig, secrets: ServiceNowSecrets) -> str:
    """Kibana's ``createJWTAssertion``: RS256, ``kid``; ``sub`` the user, ``aud`` and ``iss`` the client."""
    now = int(time.time())
    claims = {
        "sub": config.userIdentifierValue,
        "aud": config.clientId,
        "iss": config.clientId,
        "iat": now,
        "exp": now + ASSERTION_SECONDS,
    }
    try:
        password = secrets.privateKeyPassword.encode() if secrets.privateKeyPassword else None
        key = load_pem_private_key((secrets.privateKey or "").encode(), password=password)
        if not isinstance(key, RSAPrivateKey):
            raise TypeError("RS256 signs with an RSA private key")
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": config.jwtKeyId})
    except (ValueError, TypeError, jwt.PyJWTError) as exc:
        raise ServiceNowError(f"Unable to generate JWT token. Error: {exc}") from None


class Auth:
    """The ``Authorization`` of one connector's calls."""

    def __init__(self, connector_id: str, config: ServiceNowConfig, secrets: ServiceNowSecrets):
        self.config = config
        self.secrets = secrets
        self.oauth = config.isOAuth
        settings = msgspec.json.encode([connector_id, config, secrets])
        self.key = f"{connector_id}:{hashlib.sha256(settings).hexdigest()}"

    async def header(self, http: OutboundClient) -> str:
        if not self.oauth:
            return aiohttp.encode_basic_auth(self.secrets.username or "", self.secrets.password or "")
        token = _tokens.get(self.key)
        if token is None or token.expires_at <= time.time():
            token = await self._request_token(http)
            _tokens[self.key] = token
        return token.header

    def forget(self) -> None:
        """Drop the cached token, as Kibana does after any 4xx: it may be what the server refused."""
        _tokens.pop(self.key, None)

    async def _request_token(self, http: OutboundClient) -> _Token:
        """Kibana's ``requestOAuthJWTToken``; a refusal becomes an error whose message is the server's
        JSON answer (keys sorted, as ``stableStringify``), which the error wording then unpacks, and
        which carries the answer's status (Kibana's message shows none)."""
        started = time.time()
        body = urlencode(
            {
                "client_id": self.config.clientId,
                "client_secret": self.secrets.clientSecret,
                "assertion": create_assertion(self.config, self.secrets),
                "grant_type": JWT_BEARER,
            }
        )
        headers = {"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8"}
        url = f"{self.config.apiUrl.rstrip('/')}/oauth_token.do"
        try:
            response = await http.request("POST", url, data=body, headers=headers, retry=IDEMPOTENT)
        except OutboundError as exc:
            raise ServiceNowError(exc.message, axios_code(exc.message)) from None
        answer = answer_body(response)
        if response.status != 200 or not isinstance(answer, dict) or "access_token" not in answer:
            message = json.dumps(answer, sort_keys=True, separators=(",", ":"))
            raise ServiceNowError.answered(message, response, shown=False)
        expires_in = answer.get("expires_in")
        lifetime = float(expires_in) if isinstance(expires_in, int | float | str) else 0.0
        return _Token(f"{answer.get('token_type')} {answer['access_token']}", started + lifetime)

    async def request(
        self,
        http: OutboundClient,
        method: str,
        url: str,
        retry: Retry,
        json: Any = None,
        params: dict[str, str] | None = None,
    ) -> OutboundResponse:
        """A call with this connector's credentials. Under OAuth a 4xx drops the token, and a 401 (an
        expired or revoked token) is tried once more with a new one."""
        response = await self._send(http, method, url, retry, json, params)
        if self.oauth and 400 <= response.status < 500:
            self.forget()
            if response.status == 401:
                response = await self._send(http, method, url, retry, json, params)
        return response

    async def _send(
        self,
        http: OutboundClient,
        method: str,
        url: str,
        retry: Retry,
        json: Any,
        params: dict[str, str] | None,
    ) -> OutboundResponse:
        headers = {"Authorization": await self.header(http)}
        return await http.request(method, url, json=json, params=params, headers=headers, retry=retry)
