"""Alembic migrations of the job database (run by ``core.db``; ``seedream db upgrade`` runs them by hand).

``HEAD`` is the newest revision, named here so that opening a database already at it needs no Alembic at all
(``tests/core/test_db.py`` checks it against the scripts). Add a revision: bump it in the same change.
"""

HEAD = "0002"
