"""`start_date` begins at midnight in the shop's time zone: at midnight and across both DST changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from shopbridge.sync.settings import SettingError, parse_setting
from shopbridge.sync.start_date import day_start, listing_after, on_or_after

SE = "Europe/Stockholm"


@pytest.mark.parametrize(
    ("day", "utc"),
    [
        (date(2026, 1, 15), datetime(2026, 1, 14, 23, 0, tzinfo=UTC)),  # winter, +01:00
        (date(2026, 3, 29), datetime(2026, 3, 28, 23, 0, tzinfo=UTC)),  # spring change (02:00 → 03:00)
        (date(2026, 3, 30), datetime(2026, 3, 29, 22, 0, tzinfo=UTC)),  # first summer day, +02:00
        (date(2026, 10, 25), datetime(2026, 10, 24, 22, 0, tzinfo=UTC)),  # autumn change (03:00 → 02:00)
        (date(2026, 10, 26), datetime(2026, 10, 25, 23, 0, tzinfo=UTC)),  # first winter day
    ],
)
def test_the_day_starts_at_local_midnight(day: date, utc: datetime) -> None:
    assert day_start(day, SE) == utc
    assert on_or_after(utc, day, SE)
    assert not on_or_after(utc - timedelta(seconds=1), day, SE)


@pytest.mark.parametrize(
    ("created", "day", "expected"),
    [
        ("2026-10-25T00:30:00+02:00", date(2026, 10, 25), True),  # half past midnight local, in summer time
        ("2026-10-24T22:30:00Z", date(2026, 10, 25), True),  # the same instant in UTC
        ("2026-10-24T23:59:59+02:00", date(2026, 10, 25), False),
        ("2026-10-25T00:00:00+02:00", date(2026, 10, 25), True),  # exactly midnight
        ("2026-03-29T00:00:00+01:00", date(2026, 3, 29), True),
        ("2026-03-28T22:59:59Z", date(2026, 3, 29), False),
        ("2026-03-29T03:00:00+02:00", date(2026, 3, 30), False),  # after the jump, still the 29th
        ("2026-10-25T02:30:00+01:00", date(2026, 10, 25), True),  # the repeated hour
    ],
)
def test_qualifying_is_in_the_shops_time_zone(created: str, day: date, expected: bool) -> None:
    assert on_or_after(created, day, SE) is expected


def test_listing_lists_the_first_second_of_the_day_too() -> None:
    # Starweb lists orders created strictly after `ordersCreatedAfter`
    assert listing_after(date(2026, 10, 25), SE) == "2026-10-24T21:59:59Z"
    assert listing_after(date(2026, 1, 1), "UTC") == "2025-12-31T23:59:59Z"


def test_another_zone_and_an_unknown_one() -> None:
    assert day_start(date(2026, 7, 1), "America/New_York") == datetime(2026, 7, 1, 4, 0, tzinfo=UTC)
    assert parse_setting("shop_time_zone", "Europe/Helsinki") == "Europe/Helsinki"
    with pytest.raises(SettingError, match="unknown time zone"):
        parse_setting("shop_time_zone", "Mars/Olympus")
