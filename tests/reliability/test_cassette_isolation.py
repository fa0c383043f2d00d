"""Our own HTTP traffic never lands in a user's VCR cassettes (issue 17, item 9).

A user's app has a pytest-recording suite. It is run as a real ``pytest`` subprocess, first
recording a cassette (``--record-mode=once``) against the app's "API" on 127.0.0.1 while the
``staso`` and ``otlp`` exporters send to two other local servers, then replaying it with
``--block-network``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.exporters.conftest import Reply, Server, decode_otlp, validate_ingest

pytest.importorskip("opentelemetry.exporter.otlp.proto.common", reason="extra 'otlp' not installed")

KEY = "sk-staso-test-0123456789abcdef"

USER_TEST = """
import json, os, urllib.request

import pytest
import staso_integrations as st


@pytest.mark.vcr
def test_answer():
    st.init(exporter=["staso", "otlp"])
    with st.span("ask", kind="agent"):
        request = urllib.request.Request(os.environ["APP_API"] + "/v1/answer", data=b'{"q": "six times seven"}',
                                         headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            assert json.load(response) == {"answer": 42}
    st.shutdown()  # inside the cassette: the exporters send now, while vcrpy is patching
"""
USER_INI = "[pytest]\nfilterwarnings = error\naddopts = -p no:cacheprovider -p no:asyncio\n"


def test_exporters_stay_out_of_a_recorded_cassette_and_cope_with_a_blocked_network(tmp_path: Path) -> None:
    api = Server(json.loads, Reply(200, {"answer": 42}))
    ingest = Server(validate_ingest, Reply(200))
    collector = Server(decode_otlp, Reply(200, b""))
    app = tmp_path / "app"
    app.mkdir()
    (app / "test_answer.py").write_text(USER_TEST)
    (app / "pytest.ini").write_text(USER_INI)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STASO_", "OTEL_"))}
    env.update(PYTHONPATH=str(REPO), APP_API=api.url, STASO_API_KEY=KEY, STASO_BASE_URL=ingest.url,
               OTEL_EXPORTER_OTLP_ENDPOINT=collector.url)  # fmt: skip
    try:
        record = _pytest(app, env, "--record-mode=once")
        assert "1 passed" in record.stdout, record.stdout + record.stderr
        recorded = (app / "cassettes" / "test_answer" / "test_answer.yaml").read_text()
        api.stop()  # replay must not need it
        replay = _pytest(app, env, "--record-mode=none", "--block-network")
    finally:
        for server in (api, ingest, collector):
            server.stop()

    assert "1 passed" in record.stdout, record.stdout + record.stderr
    assert ingest.payloads() and collector.payloads()  # the exporters did send, around the cassette
    assert recorded.count("uri:") == 1 and "/v1/answer" in recorded
    assert "/v1/traces" not in recorded and KEY not in recorded and "x-api-key" not in recorded.lower()
    assert "1 passed" in replay.stdout, replay.stdout + replay.stderr
    assert "Traceback" not in replay.stdout + replay.stderr


def _pytest(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
