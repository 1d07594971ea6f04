from __future__ import annotations

import re
from pathlib import Path

from tulou import errors


def test_every_error_class_has_a_documented_exit_code() -> None:
    classes = [
        c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, errors.TulouError)
    ]
    assert len(classes) >= 9
    for cls in classes:
        assert cls.exit_code in errors.EXIT_CODES, cls


def test_docs_table_matches_the_code() -> None:
    text = (Path(__file__).resolve().parents[3] / "docs" / "cli.md").read_text()
    documented = {int(m.group(1)) for m in re.finditer(r"^\| (\d+) \|", text, re.M)}
    assert documented == set(errors.EXIT_CODES)


def test_location_prefixes_message() -> None:
    err = errors.InputError("bad line", location="auth.log:12")
    assert str(err) == "auth.log:12: bad line"
    assert err.exit_code == 4
