"""``doctor`` flags an exporter whose extra is missing and never prints a URL's credentials."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from staso_integrations.cli import main
from tests.no_otel import BLOCK_OTEL

DOCTOR_WITHOUT_OTEL = (
    BLOCK_OTEL
    + """
from staso_integrations.cli import main
sys.exit(main(["doctor"]))
"""
)


def test_doctor_flags_a_configured_exporter_whose_extra_is_missing() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STASO_")}
    env["STASO_EXPORTER"] = "otlp"
    done = subprocess.run(
        [sys.executable, "-c", DOCTOR_WITHOUT_OTEL],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    assert "configuration INVALID: exporter 'otlp' needs the 'otlp' extra" in done.stdout
    assert "otlp         NOT INSTALLED" in done.stdout


def test_doctor_shows_installed_extras(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor"]) == 0
    assert "otlp         installed" in capsys.readouterr().out


def test_doctor_masks_credentials_in_urls(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STASO_API_KEY", "key-1")
    monkeypatch.setenv("STASO_BASE_URL", "https://alice:hunter2-pass@ingest.example.com/v1")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "https://bob:s3cret-pw@collector.example.com:4318")
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "hunter2-pass" not in out and "s3cret-pw" not in out
    assert "base_url: https://<redacted>@ingest.example.com/v1" in out
    assert "collector.example.com:4318" in out
