"""Alembic migrations of the memory schema, run by :func:`..schema.upgrade`."""
