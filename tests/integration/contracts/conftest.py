"""Contract-test fixtures: the backup sandbox (sources, a two-site policy, the CLI in-process)."""

from tests.integration.backup.conftest import sandbox

__all__ = ["sandbox"]
