"""The worker handover: serve options survive the environment; a worker without them refuses."""

from __future__ import annotations

import pytest

from soc import serve
from tulou.errors import ConfigError


def test_options_round_trip_through_the_environment():
    options = serve.ServeOptions(config_file="/etc/tulou.toml", cookie_secure=False, metrics_ttl=1)
    assert serve.ServeOptions.from_env(options.to_env()) == options


@pytest.mark.parametrize("text", [None, "", "not json", '{"unknown": 1}'])
def test_bad_or_missing_options_are_a_config_error(text):
    with pytest.raises(ConfigError):
        serve.ServeOptions.from_env(text)


def test_factory_builds_an_app_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("TULOU_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("TULOU_DB_URL", raising=False)
    monkeypatch.delenv("TULOU_CONFIG", raising=False)
    monkeypatch.setenv(serve.ENV, serve.ServeOptions(metrics_ttl=3).to_env())
    application = serve.factory()
    assert application.state.runtime.metrics_cache.ttl == 3
    assert application.state.runtime.cookie_secure is True
    application.state.runtime.db.dispose()


def test_zero_workers_is_refused():
    with pytest.raises(ConfigError):
        serve.run(serve.ServeOptions(), None, host="127.0.0.1", port=1, workers=0)  # type: ignore[arg-type]
