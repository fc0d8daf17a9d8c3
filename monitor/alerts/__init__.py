"""Alerts: routes, messages, the outbox and its delivery, route health."""
