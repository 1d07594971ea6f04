"""Compliance reports for regulators: MLPS 2.0 (GB/T 22239 level 3) and GB/T 39786 level 3.

Data flow (docs/reports.md)::

    sources.yaml -> collectors (gateway, crypto, rules, retention, soc, backup) -> EvidenceBag
      -> judge (clauses.yaml, GB/T 28448 combination) -> document (the JSON twin)
      -> one template -> HTML + PDF (WeasyPrint) -> SM2 signature over the SM3 digests

``compliance`` is a component above the others (like ``lab``): it may import any of them and
none of them imports it (import-linter). Formats that another component writes are read
through their one reader in :mod:`tulou.contracts` (routes, drill records, backup site status).
"""
