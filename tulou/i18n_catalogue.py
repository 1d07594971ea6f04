"""Keeping a component's catalogue in step with its code: extract, merge, and check.

``python -m tulou.i18n_catalogue update soc`` extracts every translatable string of a component
(``_()``, ``N_()``, ``ngettext()`` in Python; ``_()``, ``{% trans %}`` in Jinja templates) and
merges it into ``<component>/locale/zh_CN/LC_MESSAGES/<domain>.po``: new messages are added
untranslated, gone ones dropped, translations kept. ``check`` exits 1 and lists every message
without a Chinese translation (the test suite runs :func:`untranslated` for every component).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from tulou.i18n import Catalogue

KEYWORDS = {"_": None, "N_": None, "gettext": None, "ngettext": (1, 2), "recorded": None}
METHODS = [("**/templates/**.html", "jinja2.ext:babel_extract"), ("**.py", "python")]
OPTIONS = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}}


def extract(
    directory: Path, skip: Sequence[str] = ()
) -> dict[str | tuple[str, str], list[tuple[str, int]]]:
    """msgid (or (singular, plural)) -> where it occurs, for every string under ``directory``."""
    found: dict[str | tuple[str, str], list[tuple[str, int]]] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(directory), METHODS, OPTIONS, KEYWORDS, comment_tags=(), strip_comment_tags=True
    ):
        if any(filename.startswith(prefix) for prefix in skip):
            continue
        key = message if isinstance(message, str) else (message[0], message[1])
        if not key:
            continue
        found.setdefault(key, []).append((filename, lineno))
    return found


def load(catalogue: Catalogue, locale: str) -> Catalog:
    path = catalogue.po_path(locale)
    if not path.exists():
        return Catalog(locale=locale, domain=catalogue.domain)
    with path.open("rb") as handle:
        return read_po(handle, locale=locale, domain=catalogue.domain)


def update(
    catalogue: Catalogue, directory: Path, locale: str = "zh_CN", skip: Sequence[str] = ()
) -> list[str]:
    """Merge the extracted strings into the ``locale`` catalogue; return the untranslated ones."""
    old = load(catalogue, locale)
    new = Catalog(
        locale=locale,
        domain=catalogue.domain,
        project="Tulou",
        creation_date=old.creation_date,
        revision_date=old.revision_date,
        fuzzy=False,
    )
    for key, places in sorted(extract(directory, skip).items(), key=lambda kv: str(kv[0])):
        previous = old.get(key if isinstance(key, str) else key[0])
        found = previous.string if previous is not None else ""
        string: str | tuple[str, ...] = (
            tuple(found) if isinstance(found, list | tuple) else (found or "")
        )
        if isinstance(key, tuple) and not isinstance(string, tuple):
            string = (string, string) if string else ("", "")
        new.add(key, string, locations=places)
    path = catalogue.po_path(locale)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        write_po(handle, new, width=100, sort_output=True, no_location=True)
    return untranslated_in(new)


def untranslated_in(catalog: Catalog) -> list[str]:
    missing = []
    for message in catalog:
        if not message.id:
            continue
        strings: Iterable[str] = (
            message.string if isinstance(message.string, tuple) else [str(message.string or "")]
        )
        if not all(strings) or message.fuzzy:
            missing.append(message.id if isinstance(message.id, str) else str(message.id[0]))
    return missing


def untranslated(
    catalogue: Catalogue, directory: Path, locale: str = "zh_CN", skip: Sequence[str] = ()
) -> list[str]:
    """Strings in the code that the ``locale`` catalogue lacks or leaves untranslated."""
    catalog = load(catalogue, locale)
    missing = set(untranslated_in(catalog))
    for key in extract(directory, skip):
        msgid = key if isinstance(key, str) else key[0]
        if catalog.get(msgid) is None:
            missing.add(msgid)
    return sorted(missing)


COMPONENTS: dict[str, tuple[str, tuple[str, ...]]] = {
    # component directory -> (domain, paths inside it that belong to someone else's catalogue)
    "soc": ("soc", ("migrations/",)),
    "compliance": ("compliance", ()),
}


def main(argv: Sequence[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("update", "check") or argv[1] not in COMPONENTS:
        print(f"usage: python -m tulou.i18n_catalogue update|check {'|'.join(COMPONENTS)}")
        return 2
    command, component = argv
    root = Path(__file__).resolve().parents[1] / component
    domain, skip = COMPONENTS[component]
    catalogue = Catalogue(root / "locale", domain)
    if command == "update":
        missing = update(catalogue, root, skip=skip)
    else:
        missing = untranslated(catalogue, root, skip=skip)
    for msgid in missing:
        print(f"untranslated: {msgid!r}")
    return 1 if missing and command == "check" else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
