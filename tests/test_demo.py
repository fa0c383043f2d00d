"""The demo's guard rails: a clear message without its extra, ``--live`` needs a key, and the
replay it shares with ``examples/`` refuses the network (the full demo run is in test_cli.py)."""

from __future__ import annotations

import os
import socket

import pytest

from staso_integrations import demo
from staso_integrations._demo.replay import NetworkBlocked, replay
from staso_integrations.cli import main


def test_missing_dependencies_name_the_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(demo, "NEEDS", ("openai", "vcr", "no_such_module_for_the_demo"))
    assert main(["demo"]) == 1
    err = capsys.readouterr().err
    assert err == 'the demo needs no_such_module_for_the_demo: pip install "staso-integrations[demo]"\n'


def test_live_needs_an_openai_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert main(["demo", "--live"]) == 1
    assert "set OPENAI_API_KEY" in capsys.readouterr().err


def test_replay_blocks_the_network_but_not_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    original_connect = socket.socket.connect
    with replay(demo.CASSETTE):
        assert os.environ["OPENAI_API_KEY"] == "sk-offline-replay"  # SDK clients can be built
        with pytest.raises(NetworkBlocked, match="203.0.113.7"):
            socket.create_connection(("203.0.113.7", 443), timeout=1)
        listener = socket.create_server(("127.0.0.1", 0))
        with listener, socket.create_connection(listener.getsockname(), timeout=1):
            pass
    assert socket.socket.connect is original_connect and "OPENAI_API_KEY" not in os.environ
