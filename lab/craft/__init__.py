"""Generators of real-format log lines and packets for the lab's offline scenarios.

Pure functions: given a time and parameters they return what a real system writes —
OpenSSH/sudo/PAM lines framed as RFC 3164 syslog (:mod:`lab.craft.syslog`), Linux audit records
in auditd's ENRICHED format (:mod:`lab.craft.auditd`), and scapy packets stamped with their
capture time (:mod:`lab.craft.packets`). Nothing here writes files: scenarios hand the results to
``Stage.log`` / ``Stage.pcap``.
"""
