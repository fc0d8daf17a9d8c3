"""Alembic migrations of newsmon's database (run by :mod:`monitor.store.migrate`)."""
