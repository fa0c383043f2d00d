"""Every cassette is replayable YAML and holds no credential: no key, no auth header."""

from __future__ import annotations

import re

import pytest
import yaml

from tests.conftest import REPO, SECRET_HEADERS

CASSETTES = sorted(REPO.glob("cassettes/**/*.yaml")) + sorted(
    REPO.glob("staso_integrations/**/cassettes/*.yaml")
)
KEY_SHAPES = re.compile(
    r"sk-(?:proj-|ant-|svcacct-)?[A-Za-z0-9_-]{16,}|Bearer\s+[A-Za-z0-9._-]{8,}|AKIA[0-9A-Z]{16}|AIza[0-9A-Za-z_-]{35}"
)


def test_there_are_cassettes() -> None:
    assert len(CASSETTES) >= 40


@pytest.mark.parametrize("path", CASSETTES, ids=lambda p: str(p.relative_to(REPO)))
def test_cassette_holds_no_credential(path) -> None:  # type: ignore[no-untyped-def]
    text = path.read_text()
    assert not KEY_SHAPES.search(text), KEY_SHAPES.search(text)
    data = yaml.safe_load(text)
    assert data["interactions"], "no interactions"
    for interaction in data["interactions"]:
        for side in ("request", "response"):
            headers = {name.lower() for name in (interaction[side].get("headers") or {})}
            assert not headers & set(SECRET_HEADERS), (side, headers & set(SECRET_HEADERS))
