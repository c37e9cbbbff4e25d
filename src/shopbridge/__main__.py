"""`python -m shopbridge` is the `shopbridge` command."""

from shopbridge.cli import app

app()
