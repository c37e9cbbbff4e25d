"""Shared test setup: quiet logs; helpers that start the sandboxes live in the test modules' fixtures."""

from shopbridge.logs import configure_logging

configure_logging("WARNING")
