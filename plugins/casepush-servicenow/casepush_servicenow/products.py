"""What differs between ServiceNow ITSM (``.servicenow``) and SecOps (``.servicenow-sir``): their tables,
the fields Cases sends them, and SecOps' observables."""

import re
from dataclasses import dataclass
from typing import Any

import msgspec

from casepush_servicenow.schema import Incident, ItsmFields, SirFields, SirIncident
from casepush_servicenow.service import Product

#: Kibana's ``correlation_display`` of a case push.
CASE_DISPLAY = "Elastic Case"
_OBSERVABLE_FIELDS = ("dest_ip", "source_ip", "malware_hash", "malware_url")
_SEPARATORS = re.compile(r"[ ,|\r\n\t]+")


@dataclass(frozen=True)
class Itsm(Product):
    def case_fields(self, fields: dict[str, Any] | None, case_id: str) -> dict[str, Any]:
        """Cases' ITSM ``format``."""
        itsm = msgspec.convert(fields or {}, ItsmFields)
        return {
            "severity": itsm.severity,
            "urgency": itsm.urgency,
            "impact": itsm.impact,
            "category": itsm.category,
            "subcategory": itsm.subcategory,
            "additional_fields": itsm.additionalFields,
            "correlation_id": case_id,
            "correlation_display": CASE_DISPLAY,
        }

    def sent_fields(self, fields: dict[str, Any], table_api: bool) -> dict[str, Any]:
        """The incident's fields as sent to ServiceNow."""
        return fields

    def observables(self, incident: Incident, table_api: bool) -> list[dict[str, str]]:
        """Observables to attach after the push."""
        return []


@dataclass(frozen=True)
class Sir(Itsm):
    def case_fields(self, fields: dict[str, Any] | None, case_id: str) -> dict[str, Any]:
        """Cases' SecOps ``format``. The booleans pick alert fields (``destination.ip``...) to send as
        observables; casepush keeps no alert documents, so the lists stay empty, as Kibana's for a case
        without alerts. Kibana does not forward ``additionalFields`` to SecOps."""
        sir = msgspec.convert(fields or {}, SirFields)
        return {
            **{name: [] for name in _OBSERVABLE_FIELDS},
            "category": sir.category,
            "subcategory": sir.subcategory,
            "priority": sir.priority,
            "correlation_id": case_id,
            "correlation_display": CASE_DISPLAY,
        }

    def sent_fields(self, fields: dict[str, Any], table_api: bool) -> dict[str, Any]:
        """Kibana's SecOps ``prepareParams``: the Table API takes observables joined by commas; the Import
        Set API takes none in the incident (they are attached afterwards)."""
        return {
            **fields,
            **{name: _joined(fields[name]) if table_api else None for name in _OBSERVABLE_FIELDS},
        }

    def observables(self, incident: Incident, table_api: bool) -> list[dict[str, str]]:
        """The Import Set API's observables: IPs (destination and source together), SHA256 hashes and URLs,
        each list without duplicates or empty values."""
        if table_api or not isinstance(incident, SirIncident):
            return []
        groups = (
            (_values(incident.dest_ip) + _values(incident.source_ip), "ipv4-addr"),
            (_values(incident.malware_hash), "SHA256"),
            (_values(incident.malware_url), "URL"),
        )
        return [
            {"value": value, "type": kind}
            for values, kind in groups
            for value in dict.fromkeys(values)
            if value
        ]


def _values(observables: str | list[str] | None) -> list[str]:
    if not observables:
        return []
    return _SEPARATORS.split(observables) if isinstance(observables, str) else observables


def _joined(observables: str | list[str] | None) -> str | None:
    return ",".join(observables) if isinstance(observables, list) else observables


ITSM = Itsm(
    table="incident", import_set_table="x_elas2_inc_int_elastic_incident", app_scope="x_elas2_inc_int"
)
SIR = Sir(
    table="sn_si_incident",
    import_set_table="x_elas2_sir_int_elastic_si_incident",
    app_scope="x_elas2_sir_int",
)
