"""``make demo``: the whole job against the bundled emulator, with no key and no network.

Starts ``modelgates emulator`` on a free loopback port, downloads the demo job's video with
the ``modelgates`` CLI into ./demo-output/, and stops the emulator. Both commands are
echoed exactly as run, so they can be pasted into a shell (the emulator one in another
terminal first). The CLI prints the file's path, size, sha256 and content type.

``make demo`` installs only the package and its runtime dependencies (not the dev tools).
"""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import IO

OUTPUT_DIR = Path("demo-output")


def main() -> int:
    from modelgates.emulator import DEFAULT_API_KEY, DEMO_JOB_ID

    with tempfile.TemporaryFile(mode="w+") as emulator_log:
        return _run(emulator_log, DEFAULT_API_KEY, DEMO_JOB_ID)


def _command_path() -> str:
    """The ``modelgates`` script of this environment, as a person would type it here."""
    script = Path(sys.executable).parent / "modelgates"
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return str(script)


def _free_port() -> int:
    """A port free now, so the echoed emulator command names a real one (not ``--port 0``)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _run(emulator_log: IO[str], api_key: str, job_id: str) -> int:
    modelgates = _command_path()
    serve = [modelgates, "emulator", "--port", str(_free_port())]
    print(f"$ {shlex.join(serve)}")
    emulator = subprocess.Popen(serve, stdout=subprocess.PIPE, stderr=emulator_log, text=True)
    try:
        assert emulator.stdout is not None
        first = emulator.stdout.readline().strip()
        if not first.startswith("base_url="):
            emulator.wait(timeout=10)
            emulator_log.seek(0)
            print(f"demo: the emulator did not start:\n{emulator_log.read()}", file=sys.stderr)
            return 1
        base_url = first.removeprefix("base_url=")
        print(f"demo: emulator started on {base_url} (demo job {job_id})")
        env = {**os.environ, "MODELGATES_API_KEY": api_key}
        env.pop("MODELGATES_API_KEY_FILE", None)
        download = [
            modelgates, "videos", "download", job_id, "--base-url", base_url,
            "-o", f"{OUTPUT_DIR}/", "--overwrite",
        ]  # fmt: skip
        print(f"$ MODELGATES_API_KEY={shlex.quote(api_key)} {shlex.join(download)}")
        sys.stdout.flush()
        return subprocess.run(download, env=env, check=False).returncode
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)
        print("demo: emulator stopped (the two $ lines above run it again, pasted as shown)")


if __name__ == "__main__":
    raise SystemExit(main())
