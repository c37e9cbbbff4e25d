"""Notifications: transports (e-mail, web hook) and the notifier that decides what to tell whom."""
