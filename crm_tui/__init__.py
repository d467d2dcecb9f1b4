"""crm-tui: a keyboard-first terminal CRM for support agents of subscription businesses."""

__version__ = "0.1.0"
