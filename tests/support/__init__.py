"""Real peers the tests talk to: localstripe, a PayPal fake over HTTP, an SMTP server."""
