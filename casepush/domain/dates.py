"""The ``from``/``to`` filters of find: ISO dates or Elasticsearch date math such as ``now-1d/d``."""

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from casepush.domain import kibana_time
from casepush.errors import bad_request

_MATH = re.compile(r"^now(?P<ops>([+-]\d+[smhdwMy])*)(/(?P<round>[smhdwMy]))?$")
_OP = re.compile(r"([+-])(\d+)([smhdwMy])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
INVALID_RANGE = 'Invalid "from" and/or "to" query parameters'


def resolve(expression: str, now: datetime | None = None) -> str:
    """An absolute ISO timestamp (``...Z``, milliseconds) for a date or a ``now``-relative expression."""
    now = now or datetime.now(UTC)
    match = _MATH.match(expression.strip())
    if match:
        moment = now
        for sign, amount, unit in _OP.findall(match.group("ops") or ""):
            moment = _shift(moment, int(amount) * (1 if sign == "+" else -1), unit)
        if match.group("round"):
            moment = _round_down(moment, match.group("round"))
    else:
        try:
            moment = datetime.fromisoformat(expression.strip().replace("Z", "+00:00"))
        except ValueError:
            raise bad_request(INVALID_RANGE) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
    return kibana_time(moment)


def _shift(moment: datetime, amount: int, unit: str) -> datetime:
    if unit in _UNITS:
        return moment + timedelta(**{_UNITS[unit]: amount})
    months = moment.month - 1 + amount * (12 if unit == "y" else 1)
    year, month = moment.year + months // 12, months % 12 + 1
    day = min(
        moment.day,
        [
            31,
            29 if year % 4 == 0 and (year % 100 or year % 400 == 0) else 28,
            31,
            30,
            31,
            30,
            31,
            31,
            30,
            31,
            30,
            31,
        ][month - 1],
    )
    return moment.replace(year=year, month=month, day=day)


def _round_down(moment: datetime, unit: str) -> datetime:
    fields = ["month", "day", "hour", "minute", "second"]
    keep = {"y": 0, "M": 1, "d": 2, "w": 2, "h": 3, "m": 4, "s": 5}[unit]
    reset: dict[str, Any] = {"month": 1, "day": 1, "hour": 0, "minute": 0, "second": 0}
    moment = moment.replace(microsecond=0, **{f: reset[f] for f in fields[keep:]})
    return moment - timedelta(days=moment.weekday()) if unit == "w" else moment
