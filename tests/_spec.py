"""Helpers for tests that read the OpenAPI documents or generate from variants of them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
PUBLISHED = ROOT / "openapi" / "modelgates.yaml"
OVERLAY = ROOT / "openapi" / "overlay.yaml"
GENERATED = ROOT / "generated" / "modelgates_api"
GENERATE = ROOT / "tools" / "generate.py"
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


def load_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as f:
        return yaml.safe_load(f)


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(path, method, operation) for every operation of an OpenAPI document."""
    return [
        (path, method, op)
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if method in HTTP_METHODS
    ]


def adapted_document(tmp: Path, spec: Path = PUBLISHED) -> dict[str, Any]:
    """The document as generation sees it: ``spec`` with the overlay applied."""
    out = tmp / "adapted.yaml"
    subprocess.run(
        [sys.executable, str(GENERATE), "--spec", str(spec), "--adapt-only", str(out)], check=True
    )
    doc: dict[str, Any] = load_yaml(out)
    return doc


def generate_package(spec: Path, out_dir: Path) -> Path:
    """Generate ``modelgates_api`` from ``spec`` into ``out_dir``, as make generate does."""
    subprocess.run([sys.executable, str(GENERATE), "--spec", str(spec), str(out_dir)], check=True)
    return out_dir / "modelgates_api"


def write_yaml(doc: Any, path: Path) -> Path:
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path
