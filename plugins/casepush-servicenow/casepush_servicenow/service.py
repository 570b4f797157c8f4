"""ServiceNow's Table and Import Set APIs as Kibana's ServiceNow connectors call them."""

from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import msgspec
from yarl import URL

from casepush.connectors import PushedIncident
from casepush.http import IDEMPOTENT, RATE_LIMITED, OutboundClient, OutboundError, Retry
from casepush_servicenow.auth import Auth
from casepush_servicenow.errors import ServiceNowError, answer_body, axios_code
from casepush_servicenow.schema import Incident, ServiceNowConfig, ServiceNowSecrets

#: The Import Set API's fields are the Table API's with this prefix.
FIELD_PREFIX = "u_"
#: ServiceNow's ``state`` of a closed incident, and Kibana's closing fields.
CLOSED = {"state": "7", "close_code": "Closed/Resolved by Caller", "close_notes": "Closed by Caller"}

T = TypeVar("T")


@dataclass(frozen=True)
class Product:
    """Where one connector type's incidents live (Kibana's ``serviceConfig``)."""

    table: str
    import_set_table: str
    app_scope: str


class ServiceNowService:
    """One connector's calls to ServiceNow. ``usesTableApi`` chooses the Table API (fields as they are,
    updates by PATCH) or the Elastic application's Import Set API (``u_`` fields, updates by POST)."""

    def __init__(
        self,
        http: OutboundClient,
        product: Product,
        connector_id: str,
        config: ServiceNowConfig,
        secrets: ServiceNowSecrets,
    ):
        self.http = http
        self.product = product
        self.auth = Auth(connector_id, config, secrets)
        self.table_api = config.usesTableApi
        self.base = config.apiUrl.rstrip("/")
        self.table_url = f"{self.base}/api/now/v2/table/{product.table}"
        self.import_set_url = f"{self.base}/api/now/import/{product.import_set_table}"
        self.endpoint = "table" if self.table_api else "import_set"
        self.update_method = "patch" if self.table_api else "post"

    def incident_url(self, sys_id: str) -> str:
        return f"{self.base}/nav_to.do?uri={self.product.table}.do?sys_id={sys_id}"

    # --- one call --------------------------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        url: str,
        retry: Retry,
        body: Any = None,
        params: dict[str, str] | None = None,
    ) -> Any:
        """The ``result`` of one call, or the error axios and Kibana's ``checkInstance`` would raise."""
        return (await self._answer(method, url, retry, body, params))[1]

    async def _answer(
        self,
        method: str,
        url: str,
        retry: Retry,
        body: Any = None,
        params: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """The status and ``result`` of one call (see ``_call``)."""
        try:
            response = await self.auth.request(self.http, method, url, retry, json=body, params=params)
        except OutboundError as exc:
            raise ServiceNowError(exc.message, axios_code(exc.message)) from None
        data = answer_body(response)
        if response.status >= 300:
            raise ServiceNowError.answered(
                f"Request failed with status code {response.status}", response, data
            )
        if not isinstance(data, dict) or data.get("result") is None:
            # A hibernating developer instance answers 200 with an HTML page.
            raise ServiceNowError.answered(
                f"There is an issue with your Service Now Instance. Please check {self._server_name()}.",
                response,
                shown=False,
            )
        return response.status, data["result"]

    def _server_name(self) -> str:
        """What Kibana names the instance by: the TLS server name, so nothing over plain http."""
        url = URL(self.base)
        return url.host or "" if url.scheme == "https" else ""

    async def _step(self, what: str, method: str, endpoint: str, work: Awaitable[T]) -> T:
        """Run ``work``, its failure reworded by this step, as Kibana's ``addServiceMessageToError``."""
        try:
            return await work
        except ServiceNowError as exc:
            raise exc.reworded(what, method, endpoint) from None

    # --- reads ------------------------------------------------------------------------------------------

    async def get_incident(self, sys_id: str) -> dict[str, Any]:
        return await self._step(
            f"Unable to get incident with id {sys_id}", "get", "table", self._get_incident(sys_id)
        )

    async def _get_incident(self, sys_id: str) -> dict[str, Any]:
        if not sys_id.strip():
            raise ServiceNowError("Incident id is empty.")
        return await self._call("GET", f"{self.table_url}/{sys_id}", IDEMPOTENT)

    async def find_by_correlation_id(self, correlation_id: str) -> dict[str, Any] | None:
        """The latest incident with this ``correlation_id`` (a case id, for a case push)."""
        return await self._step(
            f"Unable to get incident by correlation ID {correlation_id}",
            "get",
            "table",
            self._find_by_correlation_id(correlation_id),
        )

    async def _find_by_correlation_id(self, correlation_id: str) -> dict[str, Any] | None:
        if not correlation_id.strip():
            raise ServiceNowError("Correlation ID is empty.")
        query = {"sysparm_query": f"ORDERBYDESCsys_created_on^correlation_id={correlation_id}"}
        found = await self._call("GET", self.table_url, IDEMPOTENT, params=query)
        return found[0] if found else None

    async def application_info(self) -> dict[str, Any]:
        """The Elastic application's ``{name, scope, version}``: its absence fails Import Set pushes early."""
        url = f"{self.base}/api/{self.product.app_scope}/elastic_api/health"
        return await self._step(
            "Unable to get application version", "get", "health", self._call("GET", url, IDEMPOTENT)
        )

    async def _ensure_application(self) -> None:
        if not self.table_api:
            await self.application_info()

    async def find_user(self, email: str) -> dict[str, Any]:
        """The active ``sys_user`` with this email (compared without case, as ServiceNow's query does):
        ``{sys_id, user_name, name, email}``. No such user is an error naming the email."""
        return await self._step(
            f"Unable to get user with email {email}", "get", "table", self._find_user(email)
        )

    async def _find_user(self, email: str) -> dict[str, Any]:
        query = {
            "sysparm_query": f"active=true^email={email}",
            "sysparm_fields": "sys_id,user_name,name,email",
            "sysparm_limit": "1",
        }
        status, found = await self._answer(
            "GET", f"{self.base}/api/now/table/sys_user", IDEMPOTENT, params=query
        )
        # A query ServiceNow cannot read may match other users (invalid conditions are dropped): only a
        # user whose email is the one asked for will do.
        for user in found or []:
            if str(user.get("email") or "").casefold() == email.casefold():
                return user
        raise ServiceNowError(f"No active ServiceNow user has the email {email}.", status)

    async def user_names(self, user_names: list[str]) -> dict[str, str]:
        """The ``name`` of each of these users, by ``user_name`` (those without a name left out)."""
        query = {
            "sysparm_query": f"user_nameIN{','.join(user_names)}",
            "sysparm_fields": "user_name,name",
            "sysparm_limit": str(len(user_names)),
        }
        url = f"{self.base}/api/now/table/sys_user"
        found = await self._step(
            "Unable to get users", "get", "table", self._call("GET", url, IDEMPOTENT, params=query)
        )
        return {
            str(user["user_name"]): str(user["name"])
            for user in found or []
            if user.get("user_name") and user.get("name")
        }

    async def user_name_of(self, identifier: str) -> str:
        """The ``user_name`` of the user whose ``user_name``, email or sys_id is ``identifier`` (how an
        OAuth JWT provider may match its ``sub``); the identifier itself when no user has it."""
        query = {
            "sysparm_query": f"user_name={identifier}^ORemail={identifier}^ORsys_id={identifier}",
            "sysparm_fields": "sys_id,user_name,email",
            "sysparm_limit": "10",
        }
        url = f"{self.base}/api/now/table/sys_user"
        found = await self._step(
            f"Unable to get the user {identifier}",
            "get",
            "table",
            self._call("GET", url, IDEMPOTENT, params=query),
        )
        for field in ("user_name", "email", "sys_id"):
            for user in found or []:
                if str(user.get(field) or "").casefold() == identifier.casefold() and user.get("user_name"):
                    return str(user["user_name"])
        return identifier

    async def read_records(self, query: str) -> list[dict[str, Any]]:
        """The product table's records an encoded query selects, with the fields two-way sync reads, raw
        values (times in UTC), oldest update first."""
        params = {
            "sysparm_query": f"{query}^ORDERBYsys_updated_on",
            "sysparm_fields": "sys_id,number,state,short_description,description,sys_mod_count,"
            "sys_updated_on,sys_updated_by",
            "sysparm_display_value": "false",
            "sysparm_exclude_reference_link": "true",
        }
        return await self._step(
            "Unable to get the changes of incidents", "get", "table", self._all(self.table_url, params, 1000)
        )

    async def read_journal(self, query: str, page: int) -> list[dict[str, Any]]:
        """The ``sys_journal_field`` rows an encoded query selects, ``page`` a call."""
        params = {
            "sysparm_query": query,
            "sysparm_fields": "sys_id,element,element_id,value,sys_created_on,sys_created_by",
            "sysparm_display_value": "false",
        }
        url = f"{self.base}/api/now/table/sys_journal_field"
        return await self._step(
            "Unable to get the journal entries of incidents", "get", "table", self._all(url, params, page)
        )

    async def _all(self, url: str, params: dict[str, str], page: int) -> list[dict[str, Any]]:
        """Every row of a query, ``page`` rows a call (``sysparm_limit``, ``sysparm_offset``)."""
        rows: list[dict[str, Any]] = []
        while True:
            found = await self._call(
                "GET",
                url,
                IDEMPOTENT,
                params={**params, "sysparm_limit": str(page), "sysparm_offset": str(len(rows))},
            )
            if not isinstance(found, list):
                raise ServiceNowError("Unexpected result")
            rows += found
            if len(found) < page:
                return rows

    async def state_choices(self) -> list[dict[str, Any]]:
        """The ``state`` choices of the product's table (``{label, value}``), to name them in errors."""
        query = {
            "sysparm_query": f"name={self.product.table}^element=state^inactive=false^language=en",
            "sysparm_fields": "label,value",
        }
        url = f"{self.base}/api/now/table/sys_choice"
        return await self._step(
            "Unable to get choices", "get", "table", self._call("GET", url, IDEMPOTENT, params=query)
        )

    async def fields(self) -> list[dict[str, Any]]:
        query = {
            "sysparm_query": f"name=task^ORname={self.product.table}^internal_type=string",
            "active": "true",
            "array": "false",
            "read_only": "false",
            "sysparm_fields": "max_length,element,column_label,mandatory",
        }
        url = f"{self.base}/api/now/table/sys_dictionary"
        found = await self._step(
            "Unable to get fields", "get", "table", self._call("GET", url, IDEMPOTENT, params=query)
        )
        return found or []

    async def choices(self, fields: list[str]) -> list[dict[str, Any]]:
        elements = "^OR".join(f"element={field}" for field in fields)
        query = {
            "sysparm_query": f"name=task^ORname={self.product.table}^{elements}^language=en",
            "sysparm_fields": "label,value,dependent_value,element",
        }
        url = f"{self.base}/api/now/table/sys_choice"
        return await self._step(
            "Unable to get choices", "get", "table", self._call("GET", url, IDEMPOTENT, params=query)
        )

    # --- writes -----------------------------------------------------------------------------------------

    def _body(self, fields: dict[str, Any], additional: dict[str, Any] | None) -> dict[str, Any]:
        """Kibana's ``prepareIncident``: the Import Set API takes ``u_`` fields, with the additional
        fields unprefixed under them; the Table API takes the fields as they are and no additional ones."""
        if self.table_api:
            if additional is not None:
                # Kibana's code '400'; no call was made, but as a 400 the refusal is never retried.
                raise ServiceNowError(
                    "ServiceNow additional fields are not supported for deprecated connectors.",
                    "400",
                    status=400,
                )
            return fields
        return {**(additional or {}), **{f"{FIELD_PREFIX}{key}": value for key, value in fields.items()}}

    async def _write(self, url: str, method: str, retry: Retry, body: dict[str, Any]) -> tuple[int, str]:
        """Send an incident; the answer's status and the ``sys_id`` written, after the Import Set API's
        own error report."""
        await self._ensure_application()
        status, result = await self._answer(method, url, retry, body)
        if self.table_api:
            return status, result["sys_id"]
        if not result:
            raise ServiceNowError("Unexpected result", status)
        if result[0].get("status") == "error":
            raise ServiceNowError(str(result[0].get("error_message")), status)
        return status, result[0]["sys_id"]

    async def create(self, fields: dict[str, Any], additional: dict[str, Any] | None) -> PushedIncident:
        return await self._step(
            "Unable to create incident", "post", self.endpoint, self._create(fields, additional)
        )

    async def _create(self, fields: dict[str, Any], additional: dict[str, Any] | None) -> PushedIncident:
        body = self._body(fields, additional)
        url = self.table_url if self.table_api else self.import_set_url
        _, sys_id = await self._write(url, "POST", RATE_LIMITED, body)
        return self.pushed(await self.get_incident(sys_id), "sys_created_on")

    async def update(
        self, sys_id: str, fields: dict[str, Any], additional: dict[str, Any] | None, retry: Retry
    ) -> PushedIncident:
        """Update the incident; ``retry`` is ``RATE_LIMITED`` when the update adds a work note, which a
        second attempt would add twice."""
        _, incident = await self.update_record(sys_id, fields, additional, retry)
        return self.pushed(incident, "sys_updated_on")

    async def update_record(
        self,
        sys_id: str,
        fields: dict[str, Any],
        additional: dict[str, Any] | None = None,
        retry: Retry = IDEMPOTENT,
        what: str | None = None,
    ) -> tuple[int, dict[str, Any]]:
        """Update the incident as Kibana does (``PATCH``, or the Import Set API's POST), failing as the
        step ``what`` (by default Kibana's ``Unable to update incident with id X``); the status of the
        write's answer and the incident as read back after it."""
        return await self._step(
            what or f"Unable to update incident with id {sys_id}",
            self.update_method,
            self.endpoint,
            self._update(sys_id, fields, additional, retry),
        )

    async def _update(
        self, sys_id: str, fields: dict[str, Any], additional: dict[str, Any] | None, retry: Retry
    ) -> tuple[int, dict[str, Any]]:
        body = self._body(fields, additional)
        if self.table_api:
            status, written = await self._write(f"{self.table_url}/{sys_id}", "PATCH", retry, body)
        else:
            status, written = await self._write(
                self.import_set_url, "POST", retry, {**body, "elastic_incident_id": sys_id}
            )
        return status, await self.get_incident(written)

    async def close(self, sys_id: str | None, correlation_id: str | None) -> PushedIncident | None:
        """Kibana's ``closeIncident``: None when no incident is found, the incident as is when closed."""
        try:
            return await self._step(
                "Unable to close incident",
                self.update_method,
                self.endpoint,
                self._close(sys_id, correlation_id),
            )
        except ServiceNowError as exc:
            if exc.status == 404:
                return None
            raise

    async def _close(self, sys_id: str | None, correlation_id: str | None) -> PushedIncident | None:
        if sys_id is None and correlation_id is None:
            raise ServiceNowError("No correlationId or incidentId found.")
        if sys_id:
            found: dict[str, Any] | None = await self.get_incident(sys_id)
        else:
            found = await self.find_by_correlation_id(correlation_id or "")
        if not found:
            return None
        if found.get("state") == CLOSED["state"]:
            return self.pushed(found, "sys_updated_on")
        return await self.update(found["sys_id"], CLOSED, None, IDEMPOTENT)

    async def add_observables(self, observables: list[dict[str, str]], sys_id: str) -> Any:
        """SecOps only: attach observables through the Elastic application."""
        url = f"{self.base}/api/{self.product.app_scope}/elastic_api/incident/{sys_id}/observables/bulk"
        return await self._step(
            f"Unable to add observables to security incident with id {sys_id}",
            "post",
            "other",
            self._add_observables(url, observables),
        )

    async def _add_observables(self, url: str, observables: list[dict[str, str]]) -> Any:
        await self._ensure_application()
        return await self._call("POST", url, RATE_LIMITED, observables)

    def pushed(self, incident: dict[str, Any], date_field: str) -> PushedIncident:
        return PushedIncident(
            id=incident["sys_id"],
            title=incident.get("number") or "",
            url=self.incident_url(incident["sys_id"]),
            pushed_date=pushed_date(incident.get(date_field)),
        )


def incident_fields(incident: Incident) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The fields an incident sends (Kibana sends every one, nulls included) and its additional fields."""
    fields = msgspec.structs.asdict(incident)
    del fields["externalId"]
    additional = fields.pop("additional_fields")
    return fields, additional


def pushed_date(value: str | None) -> str:
    """ServiceNow's ``2020-03-10 12:24:20`` (UTC) as Kibana's ISO date; now when there is none."""
    moment = datetime.fromisoformat(value).replace(tzinfo=UTC) if value else datetime.now(UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
