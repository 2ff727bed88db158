"""Signed webhooks: this service's events, sent to subscribers within what each may see."""
