"""Adapters: one module per technology and role, chosen only in ``shared/bootstrap.py``."""
