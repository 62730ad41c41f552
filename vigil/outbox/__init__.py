"""Notifications through a transactional outbox (issue #15, item 6): config.py (the YAML section), messages.py
(what a notification says, written in the caller's transaction), channels.py (webhooks, MQTT), maintainer.py (the
one dispatcher), feed.py (the scoped event stream, dead letters), service.py (wiring into the Runtime)."""
