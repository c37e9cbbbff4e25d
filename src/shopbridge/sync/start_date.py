"""`start_date`, one definition: the day begins at midnight in the shop's time zone (`shop_time_zone`,
Europe/Stockholm unless set), for listing orders and for deciding whether one qualifies alike.

Midnight is taken in the zone on that very day, so across the daylight-saving changes it is 23:00 UTC
the evening before in winter and 22:00 UTC in summer.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def day_start(day: date, zone: str) -> datetime:
    """The first instant of `day` in `zone`, as an aware UTC datetime."""
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def listing_after(day: date, zone: str) -> str:
    """The `ordersCreatedAfter` value for `day`: Starweb lists orders created strictly after it, so one
    second before midnight (an order placed at 00:00:00 is listed; `on_or_after` is the exact test)."""
    return (day_start(day, zone) - timedelta(seconds=1)).isoformat().replace("+00:00", "Z")


def parse_created(value: str | datetime) -> datetime:
    """A Starweb `createdAt` as an aware datetime (a value without an offset is taken as UTC)."""
    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def on_or_after(created: str | datetime, day: date, zone: str) -> bool:
    """Whether an order created at `created` was placed on or after `day` in `zone`."""
    return parse_created(created) >= day_start(day, zone)
