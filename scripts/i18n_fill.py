"""Fill translations into a catalogue from a Python file of dicts (a translator's helper).

    python scripts/i18n_fill.py soc/locale/zh_CN/LC_MESSAGES/soc.po translations.py

``translations.py`` defines ``ZH = {msgid: msgstr}`` and optionally ``PLURALS = {singular:
(forms...)}``. Only empty entries are filled; existing translations are kept.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po


def main(po: str, source: str) -> int:
    data = runpy.run_path(source)
    zh: dict[str, str] = data.get("ZH", {})
    plurals: dict[str, tuple[str, ...]] = data.get("PLURALS", {})
    path = Path(po)
    with path.open("rb") as handle:
        catalog = read_po(handle)
    missing = []
    for message in catalog:
        if not message.id:
            continue
        if isinstance(message.id, tuple | list):
            if not all(message.string) and message.id[0] in plurals:
                message.string = plurals[message.id[0]]
            elif not all(message.string):
                missing.append(message.id[0])
            continue
        if not message.string:
            if message.id in zh:
                message.string = zh[message.id]
            else:
                missing.append(message.id)
    with path.open("wb") as handle:
        write_po(handle, catalog, width=100, sort_output=True, no_location=True)
    for msgid in missing:
        print(f"still untranslated: {msgid!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
