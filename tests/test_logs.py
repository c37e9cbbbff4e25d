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
