"""Forms generated from a connector type's structs (its ``config`` and ``secrets``, and the options of its
case sync, ``state_options``), and read back into the dicts the API takes (the type's own validation then
checks them)."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgspec
import msgspec.inspect as mi

from casepush.errors import bad_request

#: ``text``, ``number``, ``checkbox``, ``select`` (``choices``), ``list`` (one string or several:
#: comma-separated) or ``json`` (lists, objects, mixes).
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
    #: The type takes None (``null``) for it.
    nullable: bool = False

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
        if self.kind == "list" and isinstance(value, list | tuple):
            return ", ".join(str(item) for item in value)
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
    if _one_or_more_strings(present):
        return "list", (), nullable
    return "json", (), nullable


def _one_or_more_strings(types: list[mi.Type]) -> bool:
    """``str | list[str]`` (or a tuple of them): a name, or several that stand for the same thing."""
    sequences = (mi.ListType, mi.VarTupleType)
    return (
        len(types) == 2
        and any(isinstance(t, mi.StrType) for t in types)
        and any(isinstance(t, sequences) and isinstance(t.item_type, mi.StrType) for t in types)
    )


def seconds(raw: Any, refusal: str) -> float | None:
    """A number of seconds typed into a form; empty: None. Anything else is refused with ``refusal``."""
    text = raw.strip() if isinstance(raw, str) else ""
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise bad_request(refusal) from None


def form_fields(struct: type[msgspec.Struct], part: str) -> list[FormField]:
    fields = []
    info_of_struct = mi.type_info(struct)
    assert isinstance(info_of_struct, mi.StructType)  # a Struct class gives its StructType
    for info in info_of_struct.fields:
        kind, choices, nullable = _kind(info.type)
        default = None if info.default is mi.NODEFAULT else info.default
        fields.append(
            FormField(
                part, info.encode_name, kind, info.required and not nullable, choices, default, nullable
            )
        )
    return fields


def read_form(
    fields: list[FormField], form: Mapping[str, Any], blank_is_none: bool = False
) -> dict[str, Any]:
    """The submitted values by key; an empty input is left out, so that the type's default applies
    (or, for a required field, the type's own message says it is missing). With ``blank_is_none``, an
    empty input of a field that takes None is None instead: a form showing values that may be None
    (shown empty) then saves them as they were."""
    values: dict[str, Any] = {}
    for field in fields:
        if field.kind == "checkbox":
            values[field.key] = field.name in form
            continue
        raw = form.get(field.name, "")
        if not isinstance(raw, str) or not raw.strip():
            if blank_is_none and field.nullable:
                values[field.key] = None
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
    if field.kind == "list":
        # One name is a string, as the type takes it, unless the field's default is a list (the type's
        # own way to write that field).
        items = [item.strip() for item in raw.split(",") if item.strip()]
        one_is_a_string = not isinstance(field.default, list | tuple)
        return items[0] if len(items) == 1 and one_is_a_string else items
    return raw
