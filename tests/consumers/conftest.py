"""A real Arize Phoenix server and a real MLflow tracking server (SQLite) on 127.0.0.1.

Each runs from its own venv (``.ci/run`` builds ``.venv-phoenix`` and ``.venv-mlflow`` and
sets ``STASO_PHOENIX_BIN`` / ``STASO_MLFLOW_BIN``); without the variable the tests skip and
say why (and fail under ``CI=true``). Started once per test session on free ports, stopped at its end.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

STARTUP_S = 240  # a cold start on a busy 2-core machine imports a lot; healthy runs take ~30 s


@dataclass
class Server:
    url: str
    bin: str  # the server's executable; its venv's python is beside it


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _binary(variable: str) -> str:
    path = os.environ.get(variable, "")
    if not path or not Path(path).is_file():
        reason = f"{variable} is not set to the server's executable (.ci/run sets it up)"
        if os.environ.get("CI") == "true":  # CI must run these, never skip them
            pytest.fail(reason)
        pytest.skip(reason)
    return path


@pytest.fixture(scope="session")
def _server_env() -> dict[str, str]:
    return {
        k: v for k, v in os.environ.items() if not k.startswith(("STASO_", "OTEL_", "PHOENIX_", "MLFLOW_"))
    }


def _serve(command: list[str], env: dict[str, str], cwd: Path, health: str) -> Iterator[None]:
    log = (cwd / "server.log").open("wb")
    process = subprocess.Popen(
        command, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + STARTUP_S
        while True:
            if process.poll() is not None:
                pytest.fail(
                    f"{command[0]} exited {process.returncode}: {(cwd / 'server.log').read_text()[-2000:]}"
                )
            try:
                with urllib.request.urlopen(health, timeout=5) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"{command[0]} not up after {STARTUP_S} s: {(cwd / 'server.log').read_text()[-2000:]}"
                )
            time.sleep(0.5)
        yield
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)
        log.close()


@pytest.fixture(scope="session")
def phoenix(tmp_path_factory: pytest.TempPathFactory, _server_env: dict[str, str]) -> Iterator[Server]:
    binary = _binary("STASO_PHOENIX_BIN")
    port, grpc = _free_port(), _free_port()
    workdir = tmp_path_factory.mktemp("phoenix")
    env = {**_server_env, "PHOENIX_WORKING_DIR": str(workdir), "PHOENIX_HOST": "127.0.0.1",
           "PHOENIX_PORT": str(port), "PHOENIX_GRPC_PORT": str(grpc),
           "PHOENIX_TELEMETRY_ENABLED": "false"}  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    yield from _with(Server(url, binary), _serve([binary, "serve"], env, workdir, f"{url}/healthz"))


@pytest.fixture(scope="session")
def mlflow(tmp_path_factory: pytest.TempPathFactory, _server_env: dict[str, str]) -> Iterator[Server]:
    binary = _binary("STASO_MLFLOW_BIN")
    port = _free_port()
    workdir = tmp_path_factory.mktemp("mlflow")
    command = [binary, "server", "--backend-store-uri", f"sqlite:///{workdir / 'mlflow.db'}",
               "--default-artifact-root", str(workdir / "artifacts"), "--host", "127.0.0.1",
               "--port", str(port), "--workers", "1"]  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    env = {**_server_env, "MLFLOW_ENABLE_TELEMETRY": "false", "DO_NOT_TRACK": "true",
           "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}  # no background job workers: not used here  # fmt: skip
    yield from _with(Server(url, binary), _serve(command, env, workdir, f"{url}/health"))


def _with(server: Server, running: Iterator[None]) -> Iterator[Server]:
    for _ in running:
        yield server
