"""Regenerating never breaks the people who import modelgates.

Each variant of the published document is generated into a temporary directory and the
facade's contract tests (tests/contract/) run against it in a subprocess. The changes are
the ones the API's definitions go through every few weeks.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests._spec import PUBLISHED, ROOT, generate_package, load_yaml, operations, write_yaml

pytestmark = pytest.mark.slow

Doc = dict[str, Any]


def renamed(doc: Doc) -> None:
    for _, method, op in operations(doc):
        op["operationId"] = f"v2-{method}-{op['operationId']}"
        op["tags"] = ["videoGenerationV2"]


def media_type(doc: Doc) -> None:
    content = doc["paths"]["/videos/{jobId}/content"]["get"]["responses"]["200"]["content"]
    content["video/mp4"] = content.pop("application/octet-stream")


def nullable_30(doc: Doc) -> None:
    """3.0 style: ``type: x`` with ``nullable: true`` instead of ``type: [x, 'null']``."""
    doc["openapi"] = "3.0.3"

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            kind = node.get("type")
            if isinstance(kind, list) and "null" in kind:
                (other,) = [k for k in kind if k != "null"]
                node["type"] = other
                node["nullable"] = True
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(doc)


def additions(doc: Doc) -> None:
    schemas = doc["components"]["schemas"]
    response = schemas["VideoGenerationResponse"]["properties"]
    response["status"]["enum"].append("queued")
    response["progress_percent"] = {"type": "integer", "description": "new optional field"}
    model = schemas["VideoModel"]["properties"]
    model["supported_resolutions"]["items"]["enum"].append("8K")
    model["max_fps"] = {"type": ["integer", "null"]}


def prompt_optional(doc: Doc) -> None:
    schemas = doc["components"]["schemas"]
    schemas["VideoGenerationRequest"]["required"].remove("prompt")


def required_nullable(doc: Doc) -> None:
    """A required but nullable field in both answers, which the emulator (a server that
    lags its document) does not send."""
    schemas = doc["components"]["schemas"]
    for name, field in (("VideoGenerationResponse", "progress"), ("VideoModel", "max_fps")):
        schemas[name]["properties"][field] = {"type": ["integer", "null"]}
        schemas[name]["required"].append(field)


def new_endpoint(doc: Doc) -> None:
    get_op = doc["paths"]["/videos/{jobId}"]["get"]
    cancel = copy.deepcopy(get_op)
    cancel.update(operationId="cancel-videos", summary="Cancel a video generation job")
    doc["paths"]["/videos/{jobId}/cancel"] = {"post": cancel}


VARIANTS: dict[str, Callable[[Doc], None]] = {
    "renamed": renamed,
    "media_type": media_type,
    "nullable_30": nullable_30,
    "additions": additions,
    "prompt_optional": prompt_optional,
    "required_nullable": required_nullable,
    "new_endpoint": new_endpoint,
}


def run_contract(
    package: Path, *extra: str, document: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(package.parent), os.environ.get("PYTHONPATH", "")]),
        "MODELGATES_API_EXPECTED_DIR": str(package),
    }
    if document is not None:  # the contract tests that read the document read this one
        env["MODELGATES_API_DOCUMENT"] = str(document)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/contract", *extra],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def _variant(tmp_path: Path, change: Callable[[Doc], None]) -> Path:
    doc = load_yaml(PUBLISHED)
    change(doc)
    spec = write_yaml(doc, tmp_path / "variant.yaml")
    return generate_package(spec, tmp_path / "out")


@pytest.mark.parametrize("name", VARIANTS)
def test_facade_contract_holds_for_variant(name: str, tmp_path: Path) -> None:
    package = _variant(tmp_path, VARIANTS[name])
    run = run_contract(package, document=tmp_path / "variant.yaml")
    assert run.returncode == 0, f"variant {name}:\n{run.stdout}\n{run.stderr}"
    assert " passed" in run.stdout and " failed" not in run.stdout


def test_new_endpoint_is_generated_beside_the_pinned_ones(tmp_path: Path) -> None:
    package = _variant(tmp_path, new_endpoint)
    assert (package / "api" / "default" / "cancel_videos.py").exists()
    assert (package / "api" / "videos" / "get_video.py").exists()


def test_a_broken_assumption_is_named_by_operation(tmp_path: Path) -> None:
    """When a change does break the facade, the failure says which operation and what."""

    def drop_polling_url(doc: Doc) -> None:
        schema = doc["components"]["schemas"]["VideoGenerationResponse"]
        schema["properties"]["poll_url"] = schema["properties"].pop("polling_url")
        schema["required"] = ["id", "poll_url", "status"]

    run = run_contract(_variant(tmp_path, drop_polling_url))
    assert run.returncode != 0
    assert "the answer to " in run.stdout and "does not fit its schema" in run.stdout
    assert "get_video" in run.stdout or "create_video" in run.stdout


def test_a_new_request_field_is_named_and_sendable_meanwhile(tmp_path: Path) -> None:
    """A document that adds a request field: the contract names exactly that field, and
    the facade built before it can already send it with extra_body."""

    def add_fps(doc: Doc) -> None:
        request = doc["components"]["schemas"]["VideoGenerationRequest"]["properties"]
        request["fps"] = {"type": "integer", "description": "frames per second"}

    package = _variant(tmp_path, add_fps)
    run = run_contract(package, "-k", "request_fields", document=tmp_path / "variant.yaml")
    assert run.returncode != 0
    assert "request field(s) fps of the document are neither typed" in run.stdout
    assert "1 failed, 2 passed" in run.stdout
