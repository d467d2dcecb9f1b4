"""Payment providers: Stripe, PayPal and the offline provider, behind one protocol."""
