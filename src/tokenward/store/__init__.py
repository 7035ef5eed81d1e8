"""SQLAlchemy 2 storage: tables, engine, unit of work, repositories and Alembic migrations.

Only composition code (the app factory, the CLI) imports this package; services see the
protocols of :mod:`tokenward.services.ports`.
"""
