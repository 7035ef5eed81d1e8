"""SQLAlchemy Core implementations of the ports in :mod:`tokenward.services.ports`."""
