"""What the faust consumer of tests/unit/triggers/conftest.py reads."""

TRIGGERS = "t.sluice.triggers"  # the one topic it subscribes to, as sluice.triggers
