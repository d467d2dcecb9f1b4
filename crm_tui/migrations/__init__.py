"""Alembic migrations. `SCHEMA_REVISION` is the head, checked without importing alembic.

Starting the app compares the database's `alembic_version` with this constant and
only imports alembic (a third of a second) when there is something to apply; a test
keeps the constant equal to alembic's own head.
"""

SCHEMA_REVISION = "0006_analytics_indexes"
