"""Alembic migrations of the job database (run by ``core.db``; ``seedream db upgrade`` runs them by hand)."""
