"""Sluice schemas."""
