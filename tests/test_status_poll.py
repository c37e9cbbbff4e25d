"""The status poll rule (`sync/status_poll.py`): often where documents move, seldom where none do,
every Visma client's polls within its budget. Pure functions: no clock, no timing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shopbridge.sync.status_poll import (
    ACTIVE_S,
    ACTIVE_WINDOW,
    CALLS_PER_POLL,
    HOT_S,
    HOT_WINDOW,
    IDLE_S,
    Activity,
    interval,
    plan,
)

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def act(cid: str = "1", *, client: str = "app", docs: int = 10, doc_ago=None, event_ago=None, budget=60.0):
    return Activity(
        cid,
        client,
        docs,
        None if doc_ago is None else NOW - doc_ago,
        None if event_ago is None else NOW - event_ago,
        budget,
    )


def test_no_open_document_no_poll():
    assert interval(act(docs=0, event_ago=timedelta(seconds=1)), NOW) is None


def test_a_change_just_seen_polls_hot():
    assert interval(act(event_ago=timedelta(seconds=30)), NOW) == HOT_S
    assert interval(act(event_ago=HOT_WINDOW), NOW) == HOT_S


def test_documents_moving_in_the_last_hours_poll_often():
    assert interval(act(doc_ago=timedelta(minutes=20)), NOW) == ACTIVE_S
    assert interval(act(event_ago=HOT_WINDOW + timedelta(seconds=1)), NOW) == ACTIVE_S
    assert interval(act(doc_ago=ACTIVE_WINDOW), NOW) == ACTIVE_S


def test_idle_connections_back_off():
    assert interval(act(doc_ago=ACTIVE_WINDOW + timedelta(seconds=1)), NOW) == IDLE_S
    assert interval(act(), NOW) == IDLE_S  # open documents, nothing known to have moved
    assert IDLE_S > 60  # cheaper than the one-minute poll it replaces


def test_within_budget_nothing_stretches():
    got = plan([act("1", doc_ago=timedelta(minutes=5)), act("2", doc_ago=timedelta(days=2))], NOW)
    assert got == {"1": ACTIVE_S, "2": IDLE_S}


def test_over_budget_busy_connections_stretch_alike_and_idle_ones_keep_their_share():
    many = [act(str(i), event_ago=timedelta(seconds=5), budget=60) for i in range(20)]
    many.append(act("idle", doc_ago=timedelta(days=1), budget=60))
    got = plan(many, NOW)
    spend = sum(CALLS_PER_POLL * 60 / every for every in got.values())
    assert spend <= 60 + 1e-6  # never more than the budget
    assert got["0"] == got["19"] > HOT_S  # the busy ones stretch alike
    assert got["idle"] == IDLE_S  # its small share stays: it is not starved


def test_many_idle_connections_never_slow_the_busy_ones():
    idle = [act(f"i{i}", doc_ago=timedelta(days=2), budget=60) for i in range(1000)]
    got = plan([*idle, act("busy", doc_ago=timedelta(minutes=1), budget=60)], NOW)
    assert got["busy"] == ACTIVE_S
    assert got["i0"] == got["i999"] > IDLE_S  # the idle ones back off further, alike
    spend = sum(CALLS_PER_POLL * 60 / every for every in got.values())
    assert abs(spend - 60) < 1e-6


def test_the_budget_is_per_visma_client_and_its_lowest_setting_applies():
    a = [act(f"a{i}", client="A", event_ago=timedelta(seconds=1), budget=600) for i in range(10)]
    b = [act(f"b{i}", client="B", event_ago=timedelta(seconds=1), budget=600) for i in range(10)]
    b.append(act("b-low", client="B", event_ago=timedelta(seconds=1), budget=24))
    got = plan(a + b, NOW)
    assert got["a0"] == HOT_S  # 10 × 2 calls / 5 s = 240 a minute, under A's 600
    spend_b = sum(CALLS_PER_POLL * 60 / v for k, v in got.items() if k.startswith("b"))
    assert abs(spend_b - 24) < 1e-6


def test_connections_without_documents_take_nothing_from_the_budget():
    got = plan([act("1", event_ago=timedelta(seconds=1), budget=24), act("2", docs=0, budget=24)], NOW)
    assert got == {"1": HOT_S}


def test_a_shorter_poll_interval_setting_keeps_hot_and_active_connections_at_it():
    fast = Activity("1", "app", 10, NOW - timedelta(minutes=5), None, 60.0, 2.0)
    assert interval(fast, NOW) == 2.0
    idle = Activity("2", "app", 10, NOW - timedelta(days=1), None, 60.0, 2.0)
    assert interval(idle, NOW) == IDLE_S  # idle still backs off
