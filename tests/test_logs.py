"""Secrets never reach the logs."""

import io

import structlog

from shopbridge.logs import configure_logging, scrub, scrub_text


def test_scrub_hides_secret_keys_and_text() -> None:
    out = scrub({"client_secret": "s3cr3t", "nested": {"refresh_token": "r"}, "url": "x?code=abc&state=1"})
    assert out["client_secret"] == "***"
    assert out["nested"]["refresh_token"] == "***"
    assert "abc" not in out["url"] and "state=1" in out["url"]
    assert "eyJ" not in scrub_text("Authorization: Bearer eyJabc.def")


def test_logged_event_is_scrubbed() -> None:
    buf = io.StringIO()
    configure_logging("DEBUG", "json", stream=buf)
    structlog.get_logger("t").info("token.saved", access_token="AAA", note="Bearer BBB")
    text = buf.getvalue()
    assert "AAA" not in text and "BBB" not in text and "token.saved" in text
    configure_logging("WARNING")


def _failing_sql() -> None:
    import sqlalchemy

    engine = sqlalchemy.create_engine("sqlite://")
    with engine.connect() as conn:
        conn.execute(sqlalchemy.text("SELECT * FROM no_such_table WHERE secret = 'x'"))


def test_tracebacks_only_at_debug_and_a_database_error_is_one_line() -> None:
    for level, traceback_shown in (("WARNING", False), ("DEBUG", True)):
        buf = io.StringIO()
        configure_logging(level, "console", stream=buf)
        try:
            _failing_sql()
        except Exception:
            structlog.get_logger("t").exception("order.failed")
        text = buf.getvalue()
        configure_logging("WARNING")
        assert ("Traceback" in text) is traceback_shown, text
        if not traceback_shown:
            assert len(text.strip().splitlines()) == 1, text  # one line, not the 60-line stack
            assert "no such table: no_such_table" in text and "SELECT" not in text


def test_an_unknown_level_is_refused_with_a_sentence() -> None:
    import pytest

    with pytest.raises(ValueError, match="log level 'bogus' is not one of"):
        configure_logging("bogus")
