"""Sluice orchestrator."""
