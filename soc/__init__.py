"""The security operations center: alert triage, cases, roles, audit trail, reports."""
