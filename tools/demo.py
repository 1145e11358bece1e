"""``make demo``: the whole job against the bundled emulator, with no key and no network.

Starts ``modelgates emulator`` on a free loopback port, downloads the demo job's video with
the ``modelgates`` CLI into ./demo-output/, and stops the emulator. The CLI prints the
file's path, size, sha256 and content type.
"""

from __future__ import annotations

import os
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


def _run(emulator_log: IO[str], api_key: str, job_id: str) -> int:
    emulator = subprocess.Popen(
        [sys.executable, "-m", "modelgates", "emulator", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=emulator_log,
        text=True,
    )
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
        command = [
            sys.executable, "-m", "modelgates", "videos", "download", job_id,
            "-o", f"{OUTPUT_DIR}/", "--base-url", base_url, "--overwrite",
        ]  # fmt: skip
        print("$ modelgates videos download", job_id, "-o", f"{OUTPUT_DIR}/", "--overwrite")
        sys.stdout.flush()
        return subprocess.run(command, env=env, check=False).returncode
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)
        print("demo: emulator stopped")


if __name__ == "__main__":
    raise SystemExit(main())
