"""The bundled OpenAPI document and the overlay that adapts it for generation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from jsonpath_ng.ext.parser import parse as parse_jsonpath
from openapi_spec_validator import validate

from tests._spec import OVERLAY, PUBLISHED, adapted_document, load_yaml, operations


@pytest.fixture(scope="module")
def adapted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return adapted_document(tmp_path_factory.mktemp("adapted"))


def test_published_document_validates() -> None:
    validate(load_yaml(PUBLISHED))


def test_published_document_has_the_quirks_the_overlay_fixes() -> None:
    """If upstream fixes these, the overlay's actions can go: this test says so."""
    doc = load_yaml(PUBLISHED)
    for _, _, op in operations(doc):
        assert any(p["name"] == "Authorization" for p in op.get("parameters", []))
        assert "security" not in op


def test_adapted_document_validates(adapted: dict[str, Any]) -> None:
    validate(adapted)


def test_adapted_document_has_no_authorization_parameter(adapted: dict[str, Any]) -> None:
    for path, method, op in operations(adapted):
        names = [p["name"].lower() for p in op.get("parameters", [])]
        assert "authorization" not in names, f"{method.upper()} {path}"


def test_adapted_document_declares_bearer_security_on_each_operation(
    adapted: dict[str, Any],
) -> None:
    schemes = adapted["components"]["securitySchemes"]
    assert schemes["apiKey"] == {**schemes["apiKey"], "type": "http", "scheme": "bearer"}
    ops = operations(adapted)
    assert len(ops) == 4
    for path, method, op in ops:
        assert op["security"] == [{"apiKey": []}], f"{method.upper()} {path}"


def test_adapted_document_pins_operation_names(adapted: dict[str, Any]) -> None:
    names = {
        (path, method): (op["operationId"], op["tags"]) for path, method, op in operations(adapted)
    }
    assert names == {
        ("/videos", "post"): ("create_video", ["videos"]),
        ("/videos/{jobId}", "get"): ("get_video", ["videos"]),
        ("/videos/{jobId}/content", "get"): ("download_video_content", ["videos"]),
        ("/videos/models", "get"): ("list_video_models", ["videos"]),
    }


@pytest.mark.parametrize(
    "action", load_yaml(OVERLAY)["actions"], ids=lambda a: str(a.get("description", a["target"]))
)
def test_every_overlay_action_still_matches_the_published_document(action: dict[str, Any]) -> None:
    """An action that matches nothing is silently skipped when applied: a newer published
    document that moved a path would lose its pinned names without a word. This names it."""
    matches = parse_jsonpath(action["target"]).find(load_yaml(PUBLISHED))
    assert matches, f"overlay target {action['target']!r} matches nothing in {PUBLISHED.name}"


def test_published_document_is_left_as_published(tmp_path: Path) -> None:
    before = PUBLISHED.read_bytes()
    adapted_document(tmp_path)
    assert PUBLISHED.read_bytes() == before


def test_adapted_document_has_no_enums_in_responses(adapted: dict[str, Any]) -> None:
    """A value the API adds later (a new status, a new resolution) must not make the
    generated parser raise: response enums are plain strings after the overlay."""
    schemas = adapted["components"]["schemas"]
    assert "enum" not in schemas["VideoGenerationResponse"]["properties"]["status"]
    for name, prop in schemas["VideoModel"]["properties"].items():
        assert "enum" not in prop.get("items", {}), name
    # Requests keep theirs: they document what may be sent.
    assert "enum" in schemas["VideoGenerationRequest"]["properties"]["resolution"]
