"""Sluice runners."""
