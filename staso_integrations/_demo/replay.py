"""Offline replay for the demo and ``examples/``: recorded HTTP answers instead of the network.

``replay(cassette)`` serves every OpenAI/Anthropic request from a vcrpy cassette, matched on
method, path and body (so each turn of a conversation gets its own answer), and refuses any
other connection that leaves the machine. Loopback stays open for local receivers (the OTLP
example). A placeholder API key is set for the run when none is, so SDK clients can be built.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

PLACEHOLDER_KEYS = {"OPENAI_API_KEY": "sk-offline-replay", "ANTHROPIC_API_KEY": "sk-ant-offline-replay"}


class NetworkBlocked(ConnectionRefusedError):
    """A connection outside this machine was attempted during an offline replay."""


def _is_loopback(address: Any) -> bool:
    host = address[0] if isinstance(address, tuple) else address
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


@contextmanager
def _network_blocked() -> Iterator[None]:
    original = socket.socket.connect, socket.socket.connect_ex

    def guarded(method: Any) -> Any:
        def connect(sock: socket.socket, address: Any) -> Any:
            if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
                raise NetworkBlocked(f"offline replay: no network access (tried {address!r})")
            return method(sock, address)

        return connect

    socket.socket.connect, socket.socket.connect_ex = guarded(original[0]), guarded(original[1])  # type: ignore[method-assign]
    try:
        yield
    finally:
        socket.socket.connect, socket.socket.connect_ex = original  # type: ignore[method-assign]


@contextmanager
def _placeholder_keys() -> Iterator[None]:
    added = [name for name in PLACEHOLDER_KEYS if not os.environ.get(name)]
    for name in added:
        os.environ[name] = PLACEHOLDER_KEYS[name]
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


@contextmanager
def replay(cassette: str | Path) -> Iterator[None]:
    """Serve HTTP from ``cassette`` (read-only); any unrecorded request raises.

    Raises:
        ImportError: vcrpy is not installed.
    """
    import vcr  # type: ignore[import-untyped]

    recorder = vcr.VCR(
        record_mode="none",
        match_on=("method", "path", "body"),
        ignore_localhost=True,
        decode_compressed_response=True,
    )
    with _placeholder_keys(), _network_blocked(), recorder.use_cassette(str(cassette)):
        yield
