"""The officer's landing page lists the drill that really ran (real producer ``tulou drill run``,
real consumer: the SOC's drills page reading through tulou.contracts.drill) -- issue 19
finding 9: the page is no longer a placeholder once drills exist."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from crypto.sm3 import sm3
from soc import auth
from soc.app import create_app
from soc.db import Database
from tests.integration.backup.conftest import Sandbox
from tests.integration.contracts.test_drill_record import _backed_up, _drill, data_dir

__all__ = ["data_dir"]  # the fixture, re-used


def test_the_drills_page_shows_the_drill_that_ran(
    sandbox: Sandbox, data_dir: Path, tmp_path: Path
) -> None:
    _backed_up(sandbox)
    ran = _drill(sandbox)
    db = Database(f"sqlite:///{tmp_path / 'officer-soc' / 'soc.db'}")
    db.upgrade()
    with db.write() as session:
        auth.create_user(session, "olga", "officer", "officer password 123")
        token = auth.create_token(session, "olga", "t")
    client = TestClient(create_app(db, hash_fn=sm3, data_dir=data_dir))
    page = client.get("/drills", headers={"Authorization": f"Bearer {token}"}).text
    client.close()
    db.dispose()
    assert page.count('class="drill outcome-passed"') == 1
    assert "ransomware" in page and "通过" in page  # the scenario, and its outcome in Chinese
    assert "（达标）" not in page and "(达标)" in page  # RTO/RPO met, in human units
    assert ran["drill_id"]
