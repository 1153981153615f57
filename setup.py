"""Build step: the wheel carries the web assets and compiled catalogs inside the package.

``templates/``, ``static/`` and ``translations/`` live at the top of the repository. A wheel
(``pip install .``, ``pip wheel .``, ``python -m build``) gets copies under ``portal/assets/``,
with every ``translations/<lang>/LC_MESSAGES/messages.po`` compiled to ``messages.mo`` by
Babel here, at build time: the installed app never writes a file next to its code. An
editable install (``scripts/setup``) reads the checkout instead; ``scripts/translations
compile`` builds the ``.mo`` files there. Everything else is declared in ``pyproject.toml``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
ASSET_FOLDERS = ("templates", "static")
PACKAGE_ASSETS = Path("portal", "assets")  # what portal.ASSETS finds when installed


def compile_catalogs(source: Path, target: Path) -> list[Path]:
    """Compile ``source/<lang>/LC_MESSAGES/*.po`` to ``target/<lang>/LC_MESSAGES/*.mo``.

    Fails the build on a catalog Babel finds broken (e.g. placeholders that differ), which
    would otherwise fail only when a customer sees that message.
    """
    written = []
    for po_path in sorted(source.glob("*/LC_MESSAGES/*.po")):
        with po_path.open("rb") as po_file:
            catalog = read_po(po_file, locale=po_path.parent.parent.name)
        problems = [f"{po_path}:{message.lineno}: {error}" for message, errors in catalog.check() for error in errors]
        if problems:
            raise SystemExit("broken translation catalog:\n" + "\n".join(problems))
        mo_path = target / po_path.relative_to(source).with_suffix(".mo")
        mo_path.parent.mkdir(parents=True, exist_ok=True)
        with mo_path.open("wb") as mo_file:
            write_mo(mo_file, catalog)
        written.append(mo_path)
    if not written:
        raise SystemExit(f"no catalogs found under {source}")
    return written


class BuildPyWithAssets(build_py):
    """``build_py`` plus ``portal/assets/``: templates, static files, compiled catalogs."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:  # the checkout is the install: portal.ASSETS reads it in place
            return
        target = Path(self.build_lib) / PACKAGE_ASSETS
        shutil.rmtree(target, ignore_errors=True)  # no stale file from an earlier build
        for name in ASSET_FOLDERS:
            shutil.copytree(HERE / name, target / name, ignore=shutil.ignore_patterns(".*"))
        compile_catalogs(HERE / "translations", target / "translations")

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = list(super().get_outputs(include_bytecode))
        target = Path(self.build_lib) / PACKAGE_ASSETS
        if not self.editable_mode and target.is_dir():
            outputs += [str(path) for path in sorted(target.rglob("*")) if path.is_file()]
        return outputs


setup(cmdclass={"build_py": BuildPyWithAssets})
