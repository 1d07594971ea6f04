"""The zero-trust access proxy: a pure policy decision point and mitmproxy enforcement addons."""
