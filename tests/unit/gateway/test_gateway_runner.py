"""The mitmproxy options the gateway sets (gateway.runner.gateway_options)."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from gateway.config import GatewayConfig
from tulou.errors import ConfigError

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # mitmproxy.addons imports ldap3
    from mitmproxy.utils import human

    from gateway.runner import gateway_options


def config(size: str) -> GatewayConfig:
    return GatewayConfig.model_validate(
        {
            "tls": {"cert": "c.pem", "key": "k.pem"},
            "device": {"ca": "ca.pem"},
            "identity": {"issuers": "i.yaml"},
            "policy": "p.yaml",
            "routes": [{"id": "hr", "host": "hr.city.test", "upstream": "http://127.0.0.1:1"}],
            "body_size_limit": size,
        }
    )


@pytest.mark.parametrize("size", ["10m", "1k", "512", "2g"])
def test_body_size_limit_is_the_same_limit_in_bytes(size: str) -> None:
    options = gateway_options(config(size), Path("server.pem"))
    assert options["body_size_limit"] == str(human.parse_size(size))
    assert options["body_size_limit"].isdigit()  # mitmproxy's per-request fast path


def test_a_malformed_body_size_limit_is_refused() -> None:
    with pytest.raises(ConfigError, match="body_size_limit"):
        gateway_options(config("ten"), Path("server.pem"))


def test_gateway_overrides_of_mitmproxy_defaults() -> None:
    options = gateway_options(config("10m"), Path("server.pem"))
    assert options["connection_strategy"] == "lazy" and options["block_global"] is False
    assert options["request_client_cert"] is True and options["ssl_insecure"] is False
    assert options["emudhra"] is False and options["emudhra_old"] is False
