"""Identity: deterministic names, random unique ids, and ids that do not belong."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from daemon.errors import BadRequest, InvalidId, TooLarge
from daemon.ids import IdFactory, load_or_create_secret

ids = IdFactory(bytes(32))


def test_from_name_is_deterministic_and_64_lowercase_hex() -> None:
    first = ids.from_name("Agent", "steve-42")
    assert first == IdFactory(bytes(32)).from_name("Agent", "steve-42")
    assert re.fullmatch(r"[0-9a-f]{64}", first)
    assert first != ids.from_name("Agent", "steve-43")
    assert first != ids.from_name("Foreman", "steve-42")


def test_ids_made_here_pass_from_string() -> None:
    for made in (ids.from_name("Agent", "x"), ids.new_unique("Agent")):
        assert ids.from_string("Agent", made) == made


def test_unique_ids_differ() -> None:
    assert len({ids.new_unique("Agent") for _ in range(100)}) == 100


def test_an_id_of_another_class_or_deployment_is_refused() -> None:
    with pytest.raises(InvalidId, match="not made for class 'Foreman'"):
        ids.from_string("Foreman", ids.from_name("Agent", "x"))
    with pytest.raises(InvalidId, match="this deployment"):
        IdFactory(bytes([1] * 32)).from_string("Agent", ids.from_name("Agent", "x"))


@pytest.mark.parametrize("text", ["", "abc", "A" * 64, "g" * 64, "0" * 63, 7, None])
def test_malformed_ids_are_refused(text: object) -> None:
    with pytest.raises(InvalidId, match="64 lowercase hex"):
        ids.from_string("Agent", text)


def test_bad_names_and_classes() -> None:
    with pytest.raises(BadRequest):
        ids.from_name("Agent", "")
    with pytest.raises(TooLarge, match="2048"):
        ids.from_name("Agent", "n" * 2049)
    for bad_class in ("", "1abc", "a.b", "x" * 65, "_sys"):
        with pytest.raises(BadRequest, match="not a valid class name"):
            ids.from_name(bad_class, "x")


def test_secret_is_created_once_and_kept(tmp_path: Path) -> None:
    secret = load_or_create_secret(tmp_path)
    assert len(secret) == 32 and load_or_create_secret(tmp_path) == secret
    assert (tmp_path / "secret").stat().st_mode & 0o777 == 0o600
