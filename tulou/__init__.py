"""Tulou core: the CLI entry point, settings, errors and the shared event and alert types.

Everything else (crypto, gateway, detect, soc, backup, lab) may import this package; this
package imports none of them (checked by import-linter).
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
