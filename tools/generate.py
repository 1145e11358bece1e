"""Generate the low-level ``modelgates_api`` package from an OpenAPI document.

The one way ``generated/`` is written (``make generate``), and the way tests generate from
variants of the document into a temporary directory. Steps:

1. apply ``openapi/overlay.yaml`` (OpenAPI Overlay 1.0, with the pinned ``oas-patch``) to the
   published document, giving the adapted document;
2. run the pinned ``openapi-python-client`` on it with ``--fail-on-warning`` (without it an
   operation whose path does not match its parameters is skipped and the run exits 0);
3. add ``py.typed`` and swap the result into place only once it is complete.

Usage: ``python tools/generate.py [--spec SPEC] OUT_DIR`` writes ``OUT_DIR/modelgates_api``;
``python tools/generate.py [--spec SPEC] --adapt-only FILE`` writes only the adapted document.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "modelgates_api"
DEFAULT_SPEC = ROOT / "openapi" / "modelgates.yaml"
DEFAULT_OVERLAY = ROOT / "openapi" / "overlay.yaml"
GENERATOR_CONFIG = ROOT / "openapi" / "generator.yaml"


def _tool(name: str) -> str:
    """A console script installed beside this interpreter (the project's venv)."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise SystemExit(f"generate: {name!r} is not installed; run 'make install' first")
    return found


def _run(argv: list[str], env: dict[str, str] | None = None) -> None:
    result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(f"generate: {Path(argv[0]).name} failed (exit {result.returncode})")


def adapt(spec: Path, overlay: Path, out: Path) -> None:
    """Write the adapted document: ``spec`` with ``overlay`` applied."""
    _run([_tool("oas-patch"), "overlay", str(spec), str(overlay), "-o", str(out)])


def generate(spec: Path, out_dir: Path, overlay: Path = DEFAULT_OVERLAY) -> Path:
    """Generate ``out_dir/modelgates_api`` from ``spec``; return the package directory."""
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / PACKAGE
    with tempfile.TemporaryDirectory(prefix="modelgates-gen-") as tmp:
        adapted = Path(tmp) / "adapted.yaml"
        adapt(spec, overlay, adapted)
        staging = Path(tmp) / PACKAGE
        # The post-hooks call `ruff`: the pinned one beside this interpreter comes first.
        env = dict(os.environ)
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        _run(
            [
                _tool("openapi-python-client"),
                "generate",
                "--path",
                str(adapted),
                "--meta",
                "none",
                "--output-path",
                str(staging),
                "--config",
                str(GENERATOR_CONFIG),
                "--fail-on-warning",
            ],
            env=env,
        )
        (staging / "py.typed").write_bytes(b"")
        if target.exists():
            shutil.rmtree(target)
        shutil.move(str(staging), str(target))
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path, nargs="?", help=f"directory to write {PACKAGE}/ into")
    parser.add_argument("--spec", type=Path, default=DEFAULT_SPEC)
    parser.add_argument("--overlay", type=Path, default=DEFAULT_OVERLAY)
    parser.add_argument(
        "--adapt-only", type=Path, metavar="FILE", help="write the adapted document"
    )
    args = parser.parse_args(argv)
    if args.adapt_only is not None:
        adapt(args.spec, args.overlay, args.adapt_only)
        return 0
    if args.out_dir is None:
        parser.error("OUT_DIR is required unless --adapt-only is given")
    generate(args.spec, args.out_dir, args.overlay)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
