"""Upstream renames operations and tags from time to time; the names people import from
modelgates_api must not move when it does."""

from __future__ import annotations

import filecmp
from pathlib import Path

import pytest

from tests._spec import GENERATED, PUBLISHED, generate_package, load_yaml, operations, write_yaml

pytestmark = pytest.mark.slow


def _differences(left: Path, right: Path) -> list[str]:
    cmp = filecmp.dircmp(left, right, ignore=["__pycache__"])
    out = [str(Path(cmp.left, n)) for n in cmp.left_only + cmp.right_only + cmp.diff_files]
    out += [str(Path(cmp.left, n)) for n in cmp.funny_files]
    for sub in cmp.subdirs:
        out += _differences(left / sub, right / sub)
    return out


def test_renamed_operation_ids_and_tags_leave_modules_and_functions_unchanged(
    tmp_path: Path,
) -> None:
    doc = load_yaml(PUBLISHED)
    for _, method, op in operations(doc):
        op["operationId"] = f"renamed-upstream-{method}-{op['operationId']}"
        op["tags"] = ["video-generation-v2"]
    package = generate_package(write_yaml(doc, tmp_path / "renamed.yaml"), tmp_path / "out")

    for module in ("create_video", "get_video", "download_video_content", "list_video_models"):
        source = (package / "api" / "videos" / f"{module}.py").read_text(encoding="utf-8")
        for function in ("sync", "sync_detailed", "asyncio", "asyncio_detailed"):
            assert f"\ndef {function}(" in source or f"\nasync def {function}(" in source
    assert not (package / "api" / "video_generation_v2").exists()
    # Stronger: renaming changes no byte of the generated package at all.
    assert _differences(GENERATED, package) == []


def test_generation_is_byte_identical_for_the_same_document(tmp_path: Path) -> None:
    package = generate_package(PUBLISHED, tmp_path)
    assert _differences(GENERATED, package) == []
    caches = [p for p in package.rglob("*") if p.name in {".ruff_cache", "__pycache__"}]
    assert caches == []
