"""Every request field of the document is either a typed keyword of ``create``/``generate``
or deliberately left to ``extra_body``.

The schema is read from the document itself (``openapi/modelgates.yaml``, or the variant
that tests/regeneration points ``MODELGATES_API_DOCUMENT`` at), following the request body of
``POST /videos`` as the overlay targets it: by path, never by schema name. So regenerating
from a document with a new field fails here, naming it, while users can already send it
with ``extra_body``.
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import Any, get_type_hints

import modelgates
from modelgates import AsyncVideos, Videos
from modelgates._requests import LEFT_TO_EXTRA_BODY, TYPED_FIELDS, VideoRequestFields
from tests._spec import PUBLISHED, load_yaml

#: Fields the methods take as named parameters of their own.
NAMED = frozenset({"model", "prompt"})


def _document() -> dict[str, Any]:
    doc: dict[str, Any] = load_yaml(Path(os.environ.get("MODELGATES_API_DOCUMENT", PUBLISHED)))
    return doc


def _resolve(doc: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = doc
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def request_properties(doc: dict[str, Any]) -> set[str]:
    """The properties of ``POST /videos``'s JSON body (through ``$ref`` and ``allOf``)."""
    body = doc["paths"]["/videos"]["post"]["requestBody"]["content"]["application/json"]
    schema = _resolve(doc, body["schema"])
    names = set(schema.get("properties", {}))
    for part in schema.get("allOf", []):
        names |= set(_resolve(doc, part).get("properties", {}))
    return names


def test_every_document_field_is_typed_or_left_to_extra_body() -> None:
    document = request_properties(_document())
    missing = sorted(document - NAMED - set(TYPED_FIELDS) - LEFT_TO_EXTRA_BODY)
    assert not missing, (
        f"request field(s) {', '.join(missing)} of the document are neither typed "
        "(modelgates/_requests.py VideoRequestFields) nor listed in LEFT_TO_EXTRA_BODY; "
        "users can send them with extra_body meanwhile"
    )


def test_every_typed_field_is_in_the_document() -> None:
    document = request_properties(_document())
    gone = sorted((set(TYPED_FIELDS) | LEFT_TO_EXTRA_BODY) - document)
    assert not gone, f"typed request field(s) {', '.join(gone)} are no longer in the document"


def test_create_and_generate_take_the_typed_fields() -> None:
    hints = get_type_hints(VideoRequestFields)
    assert tuple(hints) == TYPED_FIELDS
    for method in (Videos.create, Videos.generate, AsyncVideos.create, AsyncVideos.generate):
        fields = inspect.signature(method).parameters["fields"]
        assert fields.kind is inspect.Parameter.VAR_KEYWORD
        assert fields.annotation == "Unpack[VideoRequestFields]", method
        assert {"model", "prompt", "extra_body"} <= set(inspect.signature(method).parameters)
    assert modelgates.VideoRequestFields is VideoRequestFields
