"""The README, the packaging metadata and the code cannot drift apart.

Each test reads the code's side from the code itself (the argparse parser, ``__all__``,
the imports, pyproject.toml), never from a list kept here, so a new flag, exception or
dependency only needs its README line or pyproject entry.
"""

from __future__ import annotations

import argparse
import ast
import builtins
import importlib.metadata
import re
import sys
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

import modelgates
from modelgates._cli import build_parser
from tests._spec import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
REQUIREMENTS = [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]

#: Declared although nothing imports it, and why.
DECLARED_FOR_ITS_FLOOR = {"h11": "httpcore's parser: the floor keeps out advisory releases"}
#: Imported by a module that only runs inside that tool.
IMPORTED_ONLY_UNDER = {"pytest": "modelgates/emulator/pytest_plugin.py"}


def _section_block(heading: str) -> str:
    """The first fenced block after ``heading`` in the README."""
    start = README.index(heading)
    match = re.search(r"```[a-z]*\n(.*?)```", README[start:], flags=re.DOTALL)
    assert match is not None, f"no code block after {heading!r}"
    return match[1]


# -- the CLI synopsis ------------------------------------------------------------------------


def _commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> dict[tuple[str, ...], argparse.ArgumentParser]:
    """Every command of the parser by its words (``()`` is the top level itself)."""
    found = {path: parser}
    parser.format_usage()  # a command's parser finishes itself when first used
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.update(_commands(sub, (*path, name)))
    return found


def _synopsis() -> dict[tuple[str, ...], str]:
    """README synopsis entries by command words; an indented line continues the entry."""
    entries: list[str] = []
    for line in _section_block("## The command line").splitlines():
        if line.startswith("modelgates"):
            entries.append(line)
        elif line.startswith(" ") and entries:
            entries[-1] += " " + line.strip()
    return {tuple(re.findall(r"^modelgates((?: [a-z][a-z-]*)*)", e)[0].split()): e for e in entries}


def _depth_at(text: str, index: int) -> int:
    return text[:index].count("[") - text[:index].count("]")


def test_the_readme_synopsis_has_every_command_of_the_parser() -> None:
    commands = _commands(build_parser())
    leaves = {words for words, p in commands.items() if not _has_subcommands(p)}
    assert set(_synopsis()) == leaves | {()}


def _has_subcommands(parser: argparse.ArgumentParser) -> bool:
    return any(isinstance(a, argparse._SubParsersAction) for a in parser._actions)


@pytest.mark.parametrize("words", sorted(_synopsis()), ids=lambda w: " ".join(w) or "modelgates")
def test_each_synopsis_line_names_every_option_and_brackets_only_the_optional(
    words: tuple[str, ...],
) -> None:
    entry = _synopsis()[words]
    parser = _commands(build_parser())[words]
    known: set[str] = set()
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
            continue
        if not action.option_strings:  # a positional: its metavar, not in brackets
            name = str(action.metavar or action.dest)
            found = [m.start() for m in re.finditer(rf"(?<![\w-]){re.escape(name)}\b", entry)]
            assert found and _depth_at(entry, found[0]) == 0, f"{name} missing in {entry!r}"
            continue
        known.update(action.option_strings)
        spellings = "|".join(re.escape(s) for s in action.option_strings)
        match = re.search(rf"(?<![\w-])(?:{spellings})(?![\w-])", entry)
        assert match, f"{action.option_strings[-1]} is not in the README synopsis: {entry!r}"
        optional = _depth_at(entry, match.start()) > 0
        assert optional == (not action.required), (
            f"{match[0]} is {'optional' if not action.required else 'required'} in the parser "
            f"but {'bracketed' if optional else 'not bracketed'} in {entry!r}"
        )
    stale = set(re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", entry)) - known
    assert not stale, f"the README synopsis names flags the parser does not have: {stale}"


# -- the error tree --------------------------------------------------------------------------


def _error_tree() -> dict[str, tuple[str | None, list[str]]]:
    """Each class in the README tree: (its parent in the tree, the "also X" it names)."""
    tree: dict[str, tuple[str | None, list[str]]] = {}
    parents: list[tuple[int, str]] = []
    for line in _section_block("### Errors").splitlines():
        first = re.search(r"[A-Z]", line)
        if first is None:
            continue
        depth = first.start()
        while parents and parents[-1][0] >= depth:
            parents.pop()
        parent = parents[-1][1] if parents else None
        names = []
        for match in re.finditer(r"\b([A-Z]\w*Error)\b(?: \(also (\w+)\))?", line):
            if line[: match.start()].count("(") > line[: match.start()].count(")"):
                continue  # inside someone else's parentheses
            tree[match[1]] = (parent, [match[2]] if match[2] else [])
            names.append(match[1])
        if names:
            parents.append((depth, names[0]))
    return tree


def _exported_exceptions() -> dict[str, type[BaseException]]:
    found = {}
    for name in modelgates.__all__:
        value = getattr(modelgates, name)
        if isinstance(value, type) and issubclass(value, BaseException):
            found[name] = value
    return found


def test_the_readme_error_tree_is_the_exported_exceptions() -> None:
    assert set(_error_tree()) == set(_exported_exceptions())


def test_each_class_in_the_error_tree_sits_under_its_nearest_documented_base() -> None:
    exported = _exported_exceptions()
    for name, (parent, also) in _error_tree().items():
        cls = exported[name]
        nearest = next((c.__name__ for c in cls.__mro__[1:] if c.__name__ in exported), None)
        assert parent == nearest, f"the README puts {name} under {parent}, the code under {nearest}"
        for builtin in also:
            assert issubclass(cls, getattr(builtins, builtin)), f"{name} is not a {builtin}"


# -- dependencies ------------------------------------------------------------------------------


def _third_party_imports() -> dict[str, set[str]]:
    """Top-level third-party modules imported by the shipped packages -> the files."""
    first_party = {"modelgates", "modelgates_api"}
    found: dict[str, set[str]] = {}
    for package in (ROOT / "facade" / "modelgates", ROOT / "generated" / "modelgates_api"):
        for path in package.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    modules = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    modules = [node.module]
                else:
                    continue
                for module in modules:
                    top = module.split(".")[0]
                    if top not in sys.stdlib_module_names and top not in first_party:
                        relative = path.relative_to(package.parent).as_posix()
                        found.setdefault(top, set()).add(relative)
    return found


def test_every_module_the_package_imports_is_a_declared_dependency() -> None:
    declared = {canonicalize_name(r.name) for r in REQUIREMENTS}
    distributions = importlib.metadata.packages_distributions()
    undeclared = {}
    for module, files in _third_party_imports().items():
        if IMPORTED_ONLY_UNDER.get(module) in files and len(files) == 1:
            continue
        names = {canonicalize_name(d) for d in distributions.get(module, [module])}
        if not names & declared:
            undeclared[module] = sorted(files)
    assert not undeclared, f"imported but not in pyproject's dependencies: {undeclared}"


def test_every_declared_dependency_is_imported_or_says_why() -> None:
    distributions = importlib.metadata.packages_distributions()
    imported = {
        canonicalize_name(d)
        for module in _third_party_imports()
        for d in distributions.get(module, [module])
    }
    unused = {canonicalize_name(r.name) for r in REQUIREMENTS} - imported
    assert unused <= set(DECLARED_FOR_ITS_FLOOR), f"declared, never imported: {unused}"


def _floors() -> dict[str, Version]:
    """``constraints-floors.txt``: name -> version."""
    floors: dict[str, Version] = {}
    for line in (ROOT / "constraints-floors.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            floors[canonicalize_name(name)] = Version(version)
    return floors


def test_the_floors_file_pins_each_dependency_at_the_lower_bound_pyproject_allows() -> None:
    floors = _floors()
    assert set(floors) == {canonicalize_name(r.name) for r in REQUIREMENTS}
    for requirement in REQUIREMENTS:
        lower = [Version(s.version) for s in requirement.specifier if s.operator == ">="]
        assert lower, f"{requirement} has no floor (>=)"
        assert floors[canonicalize_name(requirement.name)] == lower[0], requirement


def test_constraints_pin_every_dependency_inside_its_declared_range() -> None:
    pins: dict[str, str] = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[canonicalize_name(name)] = version.strip()
    for requirement in REQUIREMENTS:
        pin = pins.get(canonicalize_name(requirement.name))
        assert pin is not None, f"{requirement.name} is not pinned in constraints.txt"
        assert requirement.specifier.contains(pin), f"{requirement.name}=={pin} vs {requirement}"


def test_no_install_can_resolve_to_an_h11_with_the_smuggling_advisory() -> None:
    assert _floors()["h11"] >= Version("0.16")


def test_the_classifiers_name_each_python_from_the_floor_up() -> None:
    classifiers = PYPROJECT["project"]["classifiers"]
    versions = sorted(
        Version(c.rsplit(":: ", 1)[1])
        for c in classifiers
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    )
    floor = Version(PYPROJECT["project"]["requires-python"].removeprefix(">="))
    assert versions[0] == floor
    assert [v.minor for v in versions] == list(range(floor.minor, versions[-1].minor + 1))
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert PYPROJECT["project"]["license"] == "MIT"
