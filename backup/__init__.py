"""Encrypted, deduplicated, multi-site backups and disaster-recovery drills."""
