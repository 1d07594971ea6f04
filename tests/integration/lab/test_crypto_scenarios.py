"""The crypto service scenarios: the real service, its audit log, detect's parser and ALL rules."""

from __future__ import annotations

from pathlib import Path

from lab.scenarios import crypto_service
from tests.integration.lab.test_offline_scenarios import play_and_detect


def test_key_probing_is_denied_audited_and_alerted(tmp_path: Path) -> None:
    scenario = crypto_service.KmsKeyProbing()
    played = play_and_detect(scenario, tmp_path)
    assert played.dead == 0
    assert played.fired == {crypto_service.KEY_PROBING}
    assert played.alerts == 1  # one alert per caller and burst
    assert "4 attempts" in played.stage.notes[-1]


def test_dataset_sealing_between_departments_raises_nothing(tmp_path: Path) -> None:
    scenario = crypto_service.KmsDatasetSealing()
    assert scenario.benign
    played = play_and_detect(scenario, tmp_path)
    assert played.dead == 0 and played.fired == set()
    assert played.events >= 8  # key creation, data key, sign, unwrap, verify... all audited
