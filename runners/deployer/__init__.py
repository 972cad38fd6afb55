"""The deployer (``sluice deployer``): takes deploy stages from ``sluice.jobs.deploy`` and
carries them out on Docker and HAProxy, reporting every step to ``sluice.inbox``."""
