"""Where a download is written, and how it becomes the destination file only when whole.

Bytes go to a temporary file beside the destination (same directory, so the final rename is
atomic). ``commit()`` fsyncs it and renames it into place; ``discard()`` deletes it.

An interrupted download that could continue is *parked*: a small trailer describing it (job,
output, validator, size; never the key) is appended and the file is renamed to a fixed name
beside the destination. A later download to the same destination *claims* it by renaming
it to its own temporary name: a rename succeeds for one claimer only, so two concurrent
downloads never share a file.

Temporaries and the parked file are private (``0600``, as ``mkstemp`` makes them); the
finished file gets the mode any new file gets (``0666 & ~umask``, as curl and wget give).

Each writer holds an ``flock`` on its temporary for as long as it writes. A process killed
with SIGKILL cannot clean up, but the kernel drops its lock: the next download to the same
destination deletes the temporaries whose lock is free and that have not been written for
``STALE_AFTER`` seconds (the idle time covers the instant between creating a temporary
and locking it). A live download's temporary is never touched, however long it stalls.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import importlib.util
import json
import logging
import os
import queue
import re
import struct
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import attrs

from ._errors import (
    DestinationExistsError,
    InvalidParameterError,
    naming_destination,
    param,
    setting,
)
from ._types import DownloadResult

logger = logging.getLogger("modelgates")
#: Windows has no flock: no writer locks there, and no sweeping of abandoned temporaries.
_CAN_LOCK: bool = importlib.util.find_spec("fcntl") is not None
_UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9._-]")
_TRAILER_MAGIC = b"MGPART01"
_TRAILER_TAIL = struct.Struct(">Q8s")
_REHASH_BLOCK = 4 * 1024 * 1024
#: A temporary whose lock is free is abandoned once it has not been written for this long.
STALE_AFTER = 30.0

#: What a writer takes: bytes, or a view of a buffer its owner reuses once ``Release`` is called.
Chunk = bytes | bytearray | memoryview
Release = Callable[[], None]


def default_filename(job_id: str, index: int) -> str:
    """``<jobId>.mp4`` (``<jobId>-<index>.mp4`` for index > 0), reduced to characters that
    cannot leave the directory or surprise a shell."""
    stem = _UNSAFE_NAME_CHARS.sub("_", job_id).lstrip(".") or "video"
    stem = stem[:200]
    return f"{stem}.mp4" if index == 0 else f"{stem}-{index}.mp4"


def resolve_destination(dest: str | os.PathLike[str], job_id: str, index: int) -> Path:
    """The file to write: ``dest`` itself, or a name made from the job id inside ``dest``
    when it is an existing directory or ends with a path separator.

    One rule for every destination: missing parent directories are created (``-o new/``
    and ``-o new/x.mp4`` alike, as ``mkdir -p`` would); a file where a directory is needed
    is a ``FileSystemError`` (``NotADirectoryError``) naming ``dest``."""
    try:
        raw = os.fspath(dest)
    except TypeError:
        raise InvalidParameterError(
            f"{param('dest')} must be a path (str or os.PathLike), not {type(dest).__name__}"
        ) from None
    if not isinstance(raw, str) or not raw:
        raise InvalidParameterError(f"{param('dest')} must be a non-empty str path")
    path = Path(raw).expanduser()
    is_directory = raw.endswith(("/", os.sep)) or path.is_dir()
    target = path / default_filename(job_id, index) if is_directory else path
    with naming_destination(target):
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except FileExistsError:  # mkdir's word for "a file is there"
            raise NotADirectoryError(errno.ENOTDIR, "Not a directory") from None
    return target


def refuse_existing(path: Path, overwrite: bool) -> None:
    if not overwrite and path.exists():
        raise DestinationExistsError(
            f"{str(path)!r} exists; pass {setting('overwrite', 'True')} to replace it"
        )


def partial_path(final: Path) -> Path:
    """Where an interrupted download to ``final`` is parked."""
    return final.with_name(f".{final.name}.modelgates-partial")


@attrs.frozen
class PartialInfo:
    """What a parked download was: enough to ask the server for the rest, or start over."""

    job_id: str
    index: int
    validator: str
    total: int | None
    content_type: str | None


class BackgroundHasher:
    """sha256 on another core: ``update`` hands the chunk to a thread and returns.

    On a fast link hashing costs as much as receiving and writing together (hashlib runs
    at about 1.9 GB/s here, curl receives at about 3.3 GB/s); hashlib releases the GIL for
    large buffers, so a thread hashes while the caller reads the next chunk. The queue is
    bounded: at most ``MAX_PENDING`` chunks (a few MiB) wait. A chunk that is a view of a
    buffer the caller reuses comes with ``release``, called once the chunk is hashed.
    """

    MAX_PENDING = 8
    #: A Ctrl-C that lands inside the producer's ``put`` can lose the queue's wake-up (seen:
    #: the CLI hung in ``stop()`` after Ctrl-C); the thread looks again this often.
    RECHECK = 0.2

    def __init__(self) -> None:
        self._sha256 = hashlib.sha256()
        self._queue: queue.Queue[tuple[Chunk, Release | None] | None] = queue.Queue(
            self.MAX_PENDING
        )
        self._thread: threading.Thread | None = None
        self._digest: str | None = None

    def update(self, chunk: Chunk, release: Release | None = None) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="modelgates-sha256", daemon=True)
            self._thread.start()
        self._queue.put((chunk, release))

    def _run(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=self.RECHECK)
            except queue.Empty:
                continue
            if item is None:
                return
            chunk, release = item
            self._sha256.update(chunk)
            if release is not None:
                release()

    def hexdigest(self) -> str:
        if self._digest is None:
            self.stop()
            self._digest = self._sha256.hexdigest()
        return self._digest

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None


class AtomicWriter:
    """A temporary file beside ``final`` that becomes ``final`` only on ``commit()``.

    Counts what it holds, and hashes it unless ``checksum=False`` (``sha256`` is then None).
    Whoever holds it ends it with exactly one of ``commit()``, ``park()`` or ``discard()``
    (``_download._Download.close`` decides which).
    """

    def __init__(self, final: Path, *, overwrite: bool, checksum: bool = True) -> None:
        self.final = final
        self.overwrite = overwrite
        sweep_abandoned(final)
        fd, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".part", dir=final.parent)
        _lock_own(fd)
        self.temp = Path(name)
        self._file: IO[bytes] = os.fdopen(fd, "r+b", buffering=0)
        self.checksum = checksum
        self._sha256 = BackgroundHasher() if checksum else None
        self.bytes_written = 0
        self._closed = False

    @classmethod
    def claim(
        cls, final: Path, *, overwrite: bool, checksum: bool = True
    ) -> tuple[AtomicWriter, PartialInfo | None]:
        """A writer holding the parked download for ``final`` if there is one (then its
        ``PartialInfo``), else an empty writer. A partial saved without a checksum is hashed
        here when this one wants it: the sha256 always covers the whole file."""
        writer = cls(final, overwrite=overwrite, checksum=checksum)
        parked = partial_path(final)
        try:
            # Locked before the rename, so it is never an unlocked temporary to a sweeper.
            claimed = open(parked, "r+b", buffering=0)  # noqa: SIM115 - owned by writer
        except FileNotFoundError:
            return writer, None
        try:
            if not _lock_own(claimed.fileno()):
                raise FileNotFoundError  # another download is claiming it this instant
            os.replace(parked, writer.temp)  # atomic: one claimer wins
        except FileNotFoundError:
            claimed.close()
            return writer, None
        # Our own temporary was replaced by the claimed file: write to that from now on.
        writer._file.close()
        writer._file = claimed
        info = writer._strip_trailer()
        if info is None:
            writer.restart()
        return writer, info

    def _strip_trailer(self) -> PartialInfo | None:
        size = os.fstat(self._file.fileno()).st_size
        if size < _TRAILER_TAIL.size:
            return None
        self._file.seek(size - _TRAILER_TAIL.size)
        length, magic = _TRAILER_TAIL.unpack(self._file.read(_TRAILER_TAIL.size))
        body_end = size - _TRAILER_TAIL.size - length
        if magic != _TRAILER_MAGIC or body_end < 0:
            return None
        self._file.seek(body_end)
        try:
            info = PartialInfo(**json.loads(self._file.read(length)))
        except (ValueError, TypeError):
            return None
        self._file.truncate(body_end)
        self._rehash(body_end)
        return info

    def _rehash(self, length: int) -> None:
        """Take the file's first ``length`` bytes (the rest is already cut) as written,
        hashing them from disk when this writer hashes."""
        if self._sha256 is not None:
            self._file.seek(0)
            while block := self._file.read(_REHASH_BLOCK):
                self._sha256.update(block)
        self._file.seek(length)
        self.bytes_written = length

    def continue_at(self, length: int, *, hashed: bool) -> None:
        """Append from byte ``length`` of the file now at ``temp`` (what lies beyond is
        dropped): ``_parallel`` handing over the contiguous start of its parts, in a file it
        may have moved there. ``hashed``: those bytes were counted and hashed already
        (``account``); else this writer holds nothing yet, and hashes them from disk."""
        if os.fstat(self._file.fileno()).st_ino != os.stat(self.temp).st_ino:
            old, self._file = self._file, open(self.temp, "r+b", buffering=0)  # noqa: SIM115
            old.close()
            _lock_own(self._file.fileno())
        self._file.truncate(length)
        if hashed:
            self._file.seek(length)
            self.bytes_written = length
        else:
            self._rehash(length)

    def write(self, chunk: Chunk, release: Release | None = None) -> None:
        """Append ``chunk``; ``release`` is called once the chunk's buffer may be reused
        (at once without a checksum, after hashing with one)."""
        self._file.write(chunk)
        self.bytes_written += len(chunk)
        if self._sha256 is not None:
            self._sha256.update(chunk, release)
        elif release is not None:
            release()

    def account(self, block: Chunk, release: Release | None = None) -> None:
        """Count and hash bytes that ``_parallel`` wrote at ``bytes_written`` with pwrite
        (its parts arrive out of order; it hands them here in order, read back into a
        buffer it reuses once ``release`` is called). Without a hash, ``account_unread``."""
        assert self._sha256 is not None
        self.bytes_written += len(block)
        self._sha256.update(block, release)

    @property
    def hashing(self) -> bool:
        """Whether this writer keeps a sha256 (``checksum=False`` and no expected digest:
        not), so ``_parallel`` knows whether to read its parts back for ``account``."""
        return self._sha256 is not None

    def account_unread(self, length: int) -> None:
        """Count ``length`` bytes ``_parallel`` wrote, not read back: nothing is hashed."""
        assert self._sha256 is None
        self.bytes_written += length

    def write_many(self, chunks: list[bytes]) -> None:
        for chunk in chunks:
            self.write(chunk)

    def restart(self) -> None:
        """Drop everything written so far (the server's copy changed, or ignored Range)."""
        self._file.seek(0)
        self._file.truncate(0)
        if self._sha256 is not None:
            self._sha256.stop()
            self._sha256 = BackgroundHasher()
        self.bytes_written = 0

    @property
    def sha256(self) -> str | None:
        return None if self._sha256 is None else self._sha256.hexdigest()

    def commit(self, content_type: str | None) -> DownloadResult:
        os.fchmod(self._file.fileno(), new_file_mode())
        os.fsync(self._file.fileno())
        self._close()
        if self.overwrite:
            os.replace(self.temp, self.final)
        else:
            self._link_no_clobber()
        _fsync_directory(self.final.parent)
        return DownloadResult(
            path=self.final,
            bytes_written=self.bytes_written,
            content_type=content_type,
            sha256=self.sha256,
        )

    def _link_no_clobber(self) -> None:
        # A file that appeared at the destination during the download is not replaced.
        try:
            os.link(self.temp, self.final)
        except FileExistsError:
            self.discard()
            refuse_existing(self.final, overwrite=False)
            raise
        except OSError:  # no hard links on this filesystem
            refuse_existing(self.final, overwrite=False)
            os.replace(self.temp, self.final)
        else:
            self.temp.unlink()

    def park(self, info: PartialInfo) -> None:
        """Keep what arrived for a later call to continue (see the module docstring)."""
        body = json.dumps(attrs.asdict(info)).encode()
        self._file.seek(0, os.SEEK_END)
        self._file.write(body + _TRAILER_TAIL.pack(len(body), _TRAILER_MAGIC))
        self._close()
        os.replace(self.temp, partial_path(self.final))

    def discard(self) -> None:
        self._close()
        with contextlib.suppress(FileNotFoundError):
            self.temp.unlink()

    def _close(self) -> None:
        if not self._closed:
            self._closed = True
            self._file.close()
            if self._sha256 is not None:
                self._sha256.stop()


def new_file_mode() -> int:
    """``0666 & ~umask``: the mode ``open()`` gives a new file in this process.

    Read from /proc (Linux): setting the umask to learn it would change it for every
    thread meanwhile. Elsewhere it is read that way, briefly."""
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status") as status:
        for line in status:
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    umask = os.umask(0o077)
    os.umask(umask)
    return 0o666 & ~umask


def _try_lock(fd: int) -> bool:
    """Take an exclusive lock on ``fd``; ``False`` if another process holds it. Raises
    ``OSError`` where the filesystem has no locks."""
    if not _CAN_LOCK:
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _lock_own(fd: int) -> bool:
    """A writer's lock on its file; on a filesystem without locks it writes unlocked (and
    the sweep, which cannot lock either, leaves its files alone)."""
    try:
        return _try_lock(fd)
    except OSError:
        return True


def sweep_abandoned(final: Path) -> list[Path]:
    """Delete the temporaries of downloads to ``final`` whose writer is gone (see the
    module docstring); return what was deleted."""
    if not _CAN_LOCK:
        return []
    name = re.compile(rf"\.{re.escape(final.name)}\.[A-Za-z0-9_]{{8}}\.part")
    swept = []
    try:
        entries = list(os.scandir(final.parent))
    except OSError:
        return []
    for entry in entries:
        if not name.fullmatch(entry.name):
            continue
        try:
            fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            held = os.fstat(fd)
            if time.time() - held.st_mtime < STALE_AFTER or not _try_lock(fd):
                continue
            if os.stat(entry.path, follow_symlinks=False).st_ino == held.st_ino:
                os.unlink(entry.path)
                swept.append(Path(entry.path))
        except OSError:
            continue
        finally:
            os.close(fd)
    if swept:
        logger.info("removed %d abandoned temporary file(s) beside %s", len(swept), final)
    return swept


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    with contextlib.suppress(OSError):
        os.fsync(fd)
    os.close(fd)
