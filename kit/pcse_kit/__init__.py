"""Infrastructure shared by the PCSE status services.

Nothing in this package names a domain concept: settings, database engines, the embedded
PostgreSQL launcher, GraphQL plumbing, error masking and migrations. Services import it; it
imports no service.
"""
