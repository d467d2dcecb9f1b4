"""Reusable widgets: they get data as attributes and send Messages up; no database here."""
