"""The policy decision point: a pure policy model, parser and evaluator (imports no mitmproxy)."""
