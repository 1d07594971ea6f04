"""Addon: the admin listener (``gateway.admin.AdminServer``; the fast plane runs the same one)."""

from gateway.admin import AdminServer

__all__ = ["AdminServer"]
