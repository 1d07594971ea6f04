"""The formats that cross component boundaries, each written once, as code.

Components never import each other (import-linter checks it); they agree on these formats
instead. Each module here is one versioned format with one writer and one reader, and a
contract test that runs the real producer against the real consumer:

==========================  ===========================  ===============================  ======
module                      writer                       reader                           format
==========================  ===========================  ===============================  ======
:mod:`.alert`               detect rules, backup drills  SOC ingest API                   1
:mod:`.soc_ingest`          the one SOC ingest client    (the SOC's ingest endpoint)      v1
:mod:`.routes`              gateway config routes        gateway router, policy explain,  1
                                                         compliance coverage
:mod:`.assertion`           gateway AssertionSigner      crypto service callers           1
:mod:`.drill`               ``tulou drill run``          drill verify, report drill,      1
                                                         report compliance
:mod:`.backup_status`       ``tulou backup run/verify``  report compliance (backup)       1
==========================  ===========================  ===============================  ======

The core imports no component: anything a contract needs from another component (an SM2
key, say) is passed in through a small protocol, so producers and consumers bring their own.
"""
