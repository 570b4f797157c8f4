"""Connector forms generated from a type's ``config`` and ``secrets`` structs, and read back into the
dicts the connectors API takes (the type's own validation then checks them)."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgspec
import msgspec.inspect as mi

from casepush.errors import bad_request

#: ``text``, ``number``, ``checkbox``, ``select`` (``choices``) or ``json`` (lists, objects, mixes).
Kind = str


@dataclass(frozen=True)
class FormField:
    """One input; its HTML name is ``{part}.{key}`` (``config.apiUrl``)."""

    part: str
    key: str
    kind: Kind
    required: bool
    choices: tuple[str, ...] = ()
    default: Any = None

    @property
    def name(self) -> str:
        return f"{self.part}.{self.key}"

    @property
    def secret(self) -> bool:
        return self.part == "secrets"

    def shown(self, value: Any) -> str:
        """The value as the input shows it."""
        if value is None:
            return ""
        if self.kind == "json":
            return msgspec.json.encode(value).decode()
        return str(value)


def _kind(type_: mi.Type) -> tuple[Kind, tuple[str, ...], bool]:
    """The input for a field's type, its choices, and whether it may be left empty (None)."""
    members = type_.types if isinstance(type_, mi.UnionType) else (type_,)
    present = [member for member in members if not isinstance(member, mi.NoneType)]
    nullable = len(present) < len(members)
    if len(present) == 1:
        only = present[0]
        if isinstance(only, mi.StrType):
            return "text", (), nullable
        if isinstance(only, mi.BoolType):
            return "checkbox", (), nullable
        if isinstance(only, mi.IntType | mi.FloatType):
            return "number", (), nullable
        if isinstance(only, mi.LiteralType):
            return "select", tuple(str(value) for value in only.values), nullable
    return "json", (), nullable


def form_fields(struct: type[msgspec.Struct], part: str) -> list[FormField]:
    fields = []
    for info in mi.type_info(struct).fields:
        kind, choices, nullable = _kind(info.type)
        default = None if info.default is mi.NODEFAULT else info.default
        fields.append(
            FormField(part, info.encode_name, kind, info.required and not nullable, choices, default)
        )
    return fields


def read_form(fields: list[FormField], form: Mapping[str, Any]) -> dict[str, Any]:
    """The submitted values by key; an empty input is left out, so that the type's default applies
    (or, for a required field, the type's own message says it is missing)."""
    values: dict[str, Any] = {}
    for field in fields:
        if field.kind == "checkbox":
            values[field.key] = field.name in form
            continue
        raw = form.get(field.name, "")
        if not isinstance(raw, str) or not raw.strip():
            continue
        values[field.key] = _parsed(field, raw if field.secret else raw.strip())
    return values


def _parsed(field: FormField, raw: str) -> Any:
    if field.kind == "number":
        try:
            return float(raw) if "." in raw else int(raw)
        except ValueError:
            raise bad_request(f"{field.key} must be a number") from None
    if field.kind == "json":
        try:
            return msgspec.json.decode(raw)
        except msgspec.DecodeError:
            raise bad_request(f"{field.key} must be JSON") from None
    return raw
