"""Fixtures for the viewer: a store filled by the offline demo, the example scenarios and a
crafted trace; a viewer serving it on 127.0.0.1; headless Chromium driven by selenium through
the system's chromedriver (no browser is ever downloaded)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from staso_integrations.ui import ViewerServer

from .crafted import write_crafted_trace

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = ["openai_quickstart", "anthropic_tools", "langchain_agent", "decorators_and_conversations"]
CLEARED = ("STASO_", "OPENAI_", "ANTHROPIC_", "OTEL_")
CHROMIUM = ("chromium", "chromium-browser", "google-chrome")
ARTIFACTS = os.environ.get("STASO_UI_ARTIFACTS")  # read before the suite's fixtures clear STASO_*


class Store:
    def __init__(self, db: Path, crafted: str) -> None:
        self.db = db
        self.crafted = crafted


@pytest.fixture(scope="session")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """The demo's two turns and four examples' traces (run as a user runs them, in parallel), then
    the crafted trace, newest."""
    folder = tmp_path_factory.mktemp("ui-store")
    env = {k: v for k, v in os.environ.items() if not k.startswith(CLEARED)}
    commands = [[sys.executable, "-m", "staso_integrations", "demo"]]
    commands += [[sys.executable, str(REPO / "examples" / f"{name}.py")] for name in EXAMPLES]
    runs = [
        subprocess.Popen(
            command, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        for command in commands
    ]
    for command, run in zip(commands, runs):
        output, _ = run.communicate(timeout=180)
        assert run.returncode == 0, f"{command}: {output}"
    db = folder / ".staso" / "traces.db"
    return Store(db, write_crafted_trace(str(db), time.time_ns()))


class Viewer:
    def __init__(self, server: ViewerServer) -> None:
        self.server = server
        self.url = server.url.rstrip("/")


@contextmanager
def start_viewer(db: str) -> Iterator[Viewer]:
    server = ViewerServer(db, 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Viewer(server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def viewer(store: Store) -> Iterator[Viewer]:
    with start_viewer(str(store.db)) as running:
        yield running


def _browser_paths() -> tuple[str, str] | None:
    binary = next((path for name in CHROMIUM if (path := shutil.which(name))), None)
    driver = shutil.which("chromedriver")
    return (binary, driver) if binary and driver else None


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Headless Chromium; the tests skip (saying why) where it is not installed."""
    paths = _browser_paths()
    if paths is None:
        pytest.skip(
            "headless Chromium not installed: apt-get install chromium chromium-driver (.ci/run does)"
        )
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is in the [test] extra")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = paths[0]
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1500,1000", "--lang=en-US", "--no-first-run"):  # fmt: skip
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(paths[1]), options=options)
    driver.implicitly_wait(0)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: $STASO_UI_ARTIFACTS, else a pytest temporary folder."""
    folder = Path(ARTIFACTS) if ARTIFACTS else tmp_path_factory.mktemp("ui-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder
