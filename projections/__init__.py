"""Sluice projections."""
