"""Detection: parsers to ECS events, event stores, Sigma rules, alerts."""
