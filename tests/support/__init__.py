"""Helpers shared by Sluice's tests."""
