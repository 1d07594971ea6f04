"""The command groups the lab adds to ``tulou`` (entry point ``tulou.commands``: ``lab``).

The core CLI never names ``lab``: it finds this table through the distribution's entry points
and imports a group only when it is invoked, so an installation without the lab simply has no
``tulou demo`` and ``tulou lab``. Kept tiny: ``tulou --help`` imports it.
"""

from __future__ import annotations

#: name -> (module:attribute, one-line help), in the order of ``tulou --help``.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("lab.demo:demo", "Start the whole platform on embedded defaults and run scenarios."),
    "lab": ("lab.cli:lab", "The test range: Elasticsearch node, sample apps, scenarios."),
}
