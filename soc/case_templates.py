"""Case templates: the standard tasks for each incident category (GB/T 20986-2023).

Applying a template adds its tasks to a case (the ones the case already has by the same title
are skipped), each a timeline entry and an audit record like any task. The task lists are data;
a deployment's own playbooks replace them here.
"""

from __future__ import annotations

from soc.i18n import N_

COMMON_START = (N_("Confirm the alert is a real incident and record the evidence"),)
COMMON_END = (
    N_("Decide the grade and whether it must be reported to the regulator"),
    N_("Write the closing summary and lessons learned"),
)

TEMPLATES: dict[str, tuple[str, ...]] = {
    "malware": (
        *COMMON_START,
        N_("Isolate the infected hosts from the network"),
        N_("Collect the sample and its hashes as observables"),
        N_("Find other hosts with the same indicators"),
        N_("Clean or rebuild the hosts and restore data from backup"),
        *COMMON_END,
    ),
    "network_attack": (
        *COMMON_START,
        N_("Identify the attacking addresses and block them at the gateway"),
        N_("Check whether any attempt succeeded (logins, data access)"),
        N_("Reset the credentials of affected accounts"),
        *COMMON_END,
    ),
    "data_security": (
        *COMMON_START,
        N_("Determine which data and how many records are affected"),
        N_("Stop the leak and preserve the access logs"),
        N_("Notify the data owner and, for personal information, the people concerned"),
        *COMMON_END,
    ),
    "information_content": (
        *COMMON_START,
        N_("Take the content offline and keep a copy as evidence"),
        N_("Find how the content was published"),
        *COMMON_END,
    ),
    "equipment_failure": (
        *COMMON_START,
        N_("Switch to the standby system or site"),
        N_("Restore service and verify it with a recovery drill"),
        *COMMON_END,
    ),
    "violation": (
        *COMMON_START,
        N_("Identify the account and the actions taken"),
        N_("Suspend the account pending review"),
        *COMMON_END,
    ),
    "vulnerability": (
        *COMMON_START,
        N_("Identify the affected systems and versions"),
        N_("Apply the fix or a compensating control"),
        N_("Check the logs for exploitation before the fix"),
        *COMMON_END,
    ),
    "abnormal_behaviour": (
        *COMMON_START,
        N_("Compare the behaviour with the account's or host's baseline"),
        N_("Interview the owner of the account or host"),
        *COMMON_END,
    ),
    "force_majeure": (
        *COMMON_START,
        N_("Fail over to the disaster-recovery site"),
        N_("Record the outage times for the reporting deadline"),
        *COMMON_END,
    ),
    "other": (*COMMON_START, *COMMON_END),
}
