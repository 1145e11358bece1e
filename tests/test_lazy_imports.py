"""``import modelgates`` and ``modelgates --help`` load no HTTP stack (PEP 562 lazy names);
the lazy table and the names type checkers see stay the same list."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import modelgates

HEAVY = ("httpx", "httpcore", "attrs", "anyio", "modelgates_api")

_PROBE = """
import json, sys
{code}
print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))
"""


def _loaded_after(code: str) -> list[str]:
    run = subprocess.run(
        [sys.executable, "-c", _PROBE.format(code=code, heavy=HEAVY)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    loaded: list[str] = json.loads(run.stdout.splitlines()[-1])
    return loaded


def test_import_modelgates_loads_no_http_stack() -> None:
    assert _loaded_after("import modelgates") == []


def test_cli_help_loads_no_http_stack() -> None:
    code = (
        "import contextlib, io\nfrom modelgates._cli import main\n"
        "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['--help'])"
    )
    assert _loaded_after(code) == []


def test_a_name_loads_its_module_on_first_use() -> None:
    assert "httpx" in _loaded_after("from modelgates import ModelGates")


def test_the_lazy_table_and_the_type_checking_imports_agree() -> None:
    tree = ast.parse(Path(modelgates.__file__).read_text(encoding="utf-8"))
    block = next(
        node
        for node in tree.body
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
    )
    typed = {
        alias.asname or alias.name: (node.module or "")
        for node in block.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert typed == modelgates._EXPORTS
    assert set(modelgates.__all__) == {*modelgates._EXPORTS, "__version__"}
    for name in modelgates.__all__:
        assert getattr(modelgates, name) is not None, name
    assert set(dir(modelgates)) >= set(modelgates.__all__)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="NoSuchThing"):
        modelgates.NoSuchThing  # type: ignore[attr-defined]  # noqa: B018
