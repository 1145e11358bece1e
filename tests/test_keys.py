"""Where the API key comes from, what is rejected, and that it never shows itself."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from modelgates import InvalidAPIKeyError, MissingAPIKeyError, ModelGates
from modelgates._keys import APIKey, resolve_api_key

SECRET = "sk-mg-THIS-IS-SECRET-123"


def test_argument_wins_over_environment() -> None:
    env = {"MODELGATES_API_KEY": "sk-env"}
    assert resolve_api_key("sk-arg", env).reveal() == "sk-arg"


def test_environment_then_key_file(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(f"  {SECRET}\n", encoding="utf-8")
    env = {"MODELGATES_API_KEY_FILE": str(key_file)}
    assert resolve_api_key(None, env).reveal() == SECRET
    env["MODELGATES_API_KEY"] = "sk-env"
    assert resolve_api_key(None, env).reveal() == "sk-env"


def test_surrounding_whitespace_is_stripped_and_blank_is_unset(tmp_path: Path) -> None:
    assert resolve_api_key(f"\t{SECRET} \n", {}).reveal() == SECRET
    key_file = tmp_path / "key"
    key_file.write_text(SECRET, encoding="utf-8")
    env = {"MODELGATES_API_KEY": "   ", "MODELGATES_API_KEY_FILE": str(key_file)}
    assert resolve_api_key("  ", env).reveal() == SECRET


def test_missing_key_names_the_variables() -> None:
    with pytest.raises(MissingAPIKeyError) as info:
        resolve_api_key(None, {"MODELGATES_API_KEY": ""})
    assert "MODELGATES_API_KEY" in str(info.value)
    assert "MODELGATES_API_KEY_FILE" in str(info.value)


def test_client_construction_raises_missing_key() -> None:
    with pytest.raises(MissingAPIKeyError):
        ModelGates(base_url="http://127.0.0.1:9/api/v1")


def test_unreadable_key_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(MissingAPIKeyError, match="nope"):
        resolve_api_key(None, {"MODELGATES_API_KEY_FILE": str(missing)})


@pytest.mark.parametrize(
    "bad", ["sk-a b", "sk-a\tb", "sk-\x00", "sk-\x1b[31m", "sk-é", "sk-a\nb", "sk-\x7f"]
)
def test_inner_whitespace_and_control_characters_are_rejected_without_echo(bad: str) -> None:
    with pytest.raises(InvalidAPIKeyError) as info:
        resolve_api_key(bad, {})
    assert "api_key argument" in str(info.value)
    assert bad.strip() not in str(info.value)
    assert "sk-" not in str(info.value)


def test_bad_key_from_environment_names_the_variable() -> None:
    with pytest.raises(InvalidAPIKeyError, match="MODELGATES_API_KEY"):
        resolve_api_key(None, {"MODELGATES_API_KEY": "sk a"})


def test_key_is_redacted_and_not_pickled() -> None:
    key = APIKey(SECRET)
    for text in (repr(key), str(key), f"{key}", f"{key!r}", repr([key])):
        assert SECRET not in text
    with pytest.raises(TypeError):
        pickle.dumps(key)
