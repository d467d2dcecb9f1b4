"""Use cases: the only code that opens database sessions or calls providers.

Never imports textual (an import-linter contract checks it). Every function here
is usable from the TUI, the command line, tests and a future API alike.
"""
