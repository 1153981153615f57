"""The product runs from a built wheel, not only from an editable checkout (issue 9).

From a clean copy of the tracked files (no .venv, no compiled .mo, no build/): build the wheel,
install it (not editable) into a fresh venv, run ``pay2connect demo`` from an empty folder and
read the splash page in English and Swahili; then make the whole venv read-only, as systemd's
``ProtectSystem=strict`` does, and read it again. Root writes through ``chmod a-w``, so as root
the read-only run drops the capabilities that let it (``setpriv``). 10-20 s with a warm pip cache.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from babel.messages.pofile import read_po

from tests.conftest import free_port

pytestmark = pytest.mark.packaging

REPO = Path(__file__).resolve().parents[2]
READY = "Press Ctrl-C to stop."
ENGLISH = ("Pay with M-Pesa", "2. Your M-Pesa phone number")  # msgids on the splash page


def run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, **kwargs)
    assert result.returncode == 0, f"{' '.join(command)}\n{result.stdout}\n{result.stderr}"
    return result


def tracked_copy(target: Path) -> None:
    """The tracked files as they are in the working tree: what a clean clone would hold."""
    listing = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z"], capture_output=True, timeout=60)
    if listing.returncode != 0:
        pytest.skip("not a git checkout: nothing to build a clean copy from")
    for name in listing.stdout.decode().split("\0"):
        source = REPO / name
        if name and source.is_file():  # a tracked file deleted in the working tree is skipped
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def processes_running_under(folder: Path) -> list[int]:
    """Pids of processes whose program lies in ``folder`` (e.g. the demo's embedded redis-server)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if Path(os.readlink(entry / "exe")).is_relative_to(folder):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def files_under(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(path): (path.stat().st_size, path.stat().st_mtime_ns) for path in folder.rglob("*") if path.is_file()}


def bound_by_file_modes() -> list[str]:
    """A command prefix under which ``chmod a-w`` binds: none for a user, ``setpriv`` for root."""
    if os.geteuid() != 0:
        return []
    assert shutil.which("setpriv"), "as root, setpriv (util-linux) is needed to make chmod a-w bind"
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner", "--"]


class Demo:
    """``pay2connect demo`` from the venv, started in ``folder`` (after ``prefix``, if any)."""

    def __init__(self, venv: Path, folder: Path, env: dict[str, str], prefix: list[str]) -> None:
        self.folder, self.port = folder, free_port()
        self.out, self.err = folder / "demo.out", folder / "demo.err"
        with self.out.open("w") as out, self.err.open("w") as err:
            self.process = subprocess.Popen(
                [*prefix, str(venv / "bin/pay2connect"), "demo", "--port", str(self.port)],
                cwd=folder,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )

    def splash_url(self, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            printed = self.out.read_text()
            if READY in printed:
                return re.findall(rf"http://127\.0\.0\.1:{self.port}/\?\S+", printed)[0]
            assert self.process.poll() is None, f"demo exited {self.process.returncode}:\n{self.log()}"
            time.sleep(0.1)
        raise AssertionError(f"demo not ready in {timeout} s:\n{self.log()}")

    def stop(self) -> int:
        """Ctrl-C: the demo stops its server, worker, simulator, emulator and Redis."""
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=30)

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def log(self) -> str:
        return f"--- stdout\n{self.out.read_text()}\n--- stderr\n{self.err.read_text()}"


def page(url: str) -> tuple[str, str]:
    with requests.Session() as session:
        session.trust_env = False  # loopback: never through a proxy from the environment
        response = session.get(url, timeout=30)
    assert response.status_code == 200, response.text[:500]
    found = re.search(r'<html lang="([a-z]+)"', response.text)
    assert found is not None
    return found.group(1), html.unescape(response.text)


def check_languages(url: str, swahili: dict[str, str]) -> None:
    lang, text = page(url)
    assert lang == "en"
    for words in ENGLISH:
        assert words in text and swahili[words] not in text, words
    lang, text = page(url + "&lang=sw")
    assert lang == "sw"
    for words in ENGLISH:
        assert swahili[words] in text and words not in text, words


@pytest.fixture
def workspace() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="pay2connect-wheel-"))
    try:
        yield folder
    finally:
        for pid in processes_running_under(folder):  # only after a failure: stop what the test started
            os.kill(pid, signal.SIGKILL)
        for path in [folder, *folder.rglob("*")]:  # undo chmod a-w so the folder can go
            if not path.is_symlink():
                path.chmod(path.stat().st_mode | stat.S_IWUSR)
        shutil.rmtree(folder, ignore_errors=True)


def build_wheel(source: Path, dist: Path) -> Path:
    """``pip wheel`` (what ``pip install .`` does), then check what the wheel carries."""
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(dist), str(source)])
    (wheel,) = dist.glob("pay2connect-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder in ("templates", "static"):
        for path in (source / folder).rglob("*"):
            if path.is_file():
                assert f"portal/assets/{path.relative_to(source)}" in names
    catalogs = list((source / "translations").glob("*/LC_MESSAGES/messages.po"))
    assert catalogs
    for po_path in catalogs:
        assert f"portal/assets/{po_path.relative_to(source).with_suffix('.mo')}" in names
    assert not [name for name in names if name.endswith(".po")], "only compiled catalogs belong in the wheel"
    return wheel


def install(wheel: Path, venv: Path, env: dict[str, str], empty: Path) -> Path:
    """A fresh venv with the wheel (not editable); returns the installed package folder."""
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)])  # this pip installs into it: faster
    run([sys.executable, "-m", "pip", "--python", str(venv / "bin/python"), "install", "--quiet", str(wheel)])
    where = run(
        [str(venv / "bin/python"), "-c", "import portal; print(portal.__file__, portal.ASSETS)"], cwd=empty, env=env
    )
    module, assets = map(Path, where.stdout.split())
    assert module.is_relative_to(venv) and assets == module.parent / "assets", where.stdout
    return module.parent


def make_read_only(folder: Path) -> None:
    for path in [folder, *folder.rglob("*")]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def serve_both_languages(demo: Demo, swahili: dict[str, str]) -> None:
    try:
        check_languages(demo.splash_url(), swahili)
        assert demo.stop() == 0, demo.log()
    finally:
        demo.kill()
    assert "Traceback" not in demo.log() and "is missing" not in demo.log(), demo.log()


def test_the_wheel_serves_english_and_swahili_from_a_read_only_install(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.monotonic()
    timings: dict[str, float] = {}

    def lap(name: str) -> None:
        timings[name] = time.monotonic() - started - sum(timings.values())

    source, venv = workspace / "src", workspace / "venv"
    tracked_copy(source)
    assert not list(source.rglob("*.mo")), "the clean copy must not hold compiled catalogs"
    with (source / "translations/sw/LC_MESSAGES/messages.po").open("rb") as po:
        catalog = read_po(po)
    swahili = {words: str(catalog[words].string) for words in ENGLISH}
    wheel = build_wheel(source, workspace / "dist")
    lap("build the wheel")

    env = {"PATH": f"{venv / 'bin'}:{os.defpath}", "LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1"}
    empty = workspace / "run"
    empty.mkdir()
    package = install(wheel, venv, env, empty)
    lap("install into a fresh venv")

    installed = files_under(package.parent)
    serve_both_languages(Demo(venv, empty, {**env, "HOME": str(empty)}, prefix=[]), swahili)
    assert files_under(package.parent) == installed, "the app wrote into its install folder"
    lap("demo in en and sw")

    # Read-only, as under ProtectSystem=strict: the whole venv, the package and its catalogs.
    make_read_only(venv)
    prefix = bound_by_file_modes()
    probe = subprocess.run(
        [*prefix, str(venv / "bin/python"), "-c", f"open({str(package / 'assets/translations/probe')!r}, 'w')"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert probe.returncode != 0 and "PermissionError" in probe.stderr, "the install is not read-only"
    second = workspace / "run-read-only"
    second.mkdir()
    serve_both_languages(Demo(venv, second, {**env, "HOME": str(second)}, prefix=prefix), swahili)
    lap("read-only demo in en and sw")

    deadline = time.monotonic() + 10
    while processes_running_under(venv) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not processes_running_under(venv), "something the demo started outlived it (embedded redis-server?)"

    with capsys.disabled():
        steps = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in timings.items())
        print(f"\n[wheel] built, installed and served en/sw read-only in {time.monotonic() - started:.1f} s ({steps})")
