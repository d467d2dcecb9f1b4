"""The stored shape of the domain, and the plain read models services hand out.

Nothing here does I/O or imports textual. The tables live in `tables.py` and are
imported explicitly: `import sqlmodel` costs most of a second, and the directory's
hot path (and so the app's cold start) does without it.
"""
