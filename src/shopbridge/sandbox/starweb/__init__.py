"""Starweb Shop API v2 sandbox: a stateful imitation of the real API (see `app.create_app`)."""
