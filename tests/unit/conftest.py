"""Fixtures shared by the unit tests of one kind (the root conftest has the databases)."""

from tests.unit.stripe_world import world

__all__ = ["world"]
