"""The on-disk cache: arXiv records, PDFs and digests, kept between runs and shared between processes.

Entries live at ``root/<kind>/<key><suffix>``: kind ``"record"`` key ``"2401.16144v2"``, kind ``"pdf"``, kind
``"digest"`` (key built by the digest owner with :meth:`Cache.key`). Every write goes to a temporary file in the
same folder and is moved into place with ``os.replace``, which POSIX and Windows make atomic: a reader sees the old
entry or the new one, never half of one, and a crash leaves at most a stray ``.tmp`` file. Work that should happen
once per entry (a PDF download) holds a per-entry file lock (``filelock``) so two processes do not both do it.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import uuid
from pathlib import Path
from typing import IO, Any, Iterable, Iterator

from filelock import FileLock

log = logging.getLogger(__name__)

_KIND = re.compile(r"[a-z0-9][a-z0-9_-]*")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_LOCKS = ".locks"


class Cache:
    """A folder of JSON and file entries addressed by (kind, key)."""

    def __init__(self, root: str | os.PathLike):
        """Open (not create) the cache at ``root``; folders appear on the first write."""
        self.root = Path(root).expanduser()

    def __repr__(self) -> str:
        return f"Cache({str(self.root)!r})"

    @staticmethod
    def key(*parts: Any) -> str:
        """A stable 32-hex-digit key for a tuple of JSON-able parts, e.g. (paper, backend, model, languages, prompt version)."""
        blob = json.dumps(parts, ensure_ascii=False, sort_keys=True, default=str, separators=(",", ":"))
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:32]

    def path_for(self, kind: str, key: str, suffix: str = "") -> Path:
        """Where the entry (kind, key) lives; its folder is created, the file is not."""
        folder = self.root / _check_kind(kind)
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{_file_name(key)}{suffix}"

    def lock(self, kind: str, key: str, timeout: float = 300.0) -> FileLock:
        """A cross-process lock for one entry; hold it around check-then-create work (``with cache.lock(...)``)."""
        folder = self.root / _LOCKS / _check_kind(kind)
        folder.mkdir(parents=True, exist_ok=True)
        return FileLock(str(folder / f"{_file_name(key)}.lock"), timeout=timeout)

    def get_json(self, kind: str, key: str) -> Any | None:
        """The JSON entry, or None when it is missing or unreadable (an unreadable entry is logged and ignored)."""
        path = self.path_for(kind, key, ".json")
        try:
            with open(path, encoding="utf-8") as f:
                return json.load(f)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable cache entry %s: %s", path, exc)
            return None

    def put_json(self, kind: str, key: str, obj: Any) -> Path:
        """Store a JSON entry atomically (no lock needed: ``os.replace`` makes the last writer win cleanly)."""
        data = json.dumps(obj, ensure_ascii=False, indent=1, default=str).encode("utf-8")
        return self.put_bytes(kind, key, ".json", data)

    def get_file(self, kind: str, key: str, suffix: str) -> Path | None:
        """The path of a file entry if it exists, else None."""
        path = self.path_for(kind, key, suffix)
        return path if path.is_file() else None

    def put_bytes(self, kind: str, key: str, suffix: str, data: bytes) -> Path:
        """Store bytes as a file entry atomically; returns its path."""
        with self.writer(kind, key, suffix) as f:
            f.write(data)
        return self.path_for(kind, key, suffix)

    @contextlib.contextmanager
    def writer(self, kind: str, key: str, suffix: str) -> Iterator[IO[bytes]]:
        """Write a file entry through a temporary file that replaces the entry only if the block succeeds."""
        with atomic_writer(self.path_for(kind, key, suffix)) as f:
            yield f

    def clear(self, keep: Iterable[str] = ("models",)) -> int:
        """Delete every entry (records, PDFs, digests, anything else); returns how many files were removed.

        Top-level folders named in ``keep`` survive: by default ``models/``, where the local backend keeps its
        joined GGUF file, which is a prepared install rather than a cached answer (delete it by hand to drop it).
        """
        if not self.root.is_dir():
            return 0
        removed = 0
        for child in self.root.iterdir():
            if child.name == _LOCKS or child.name in keep:
                continue  # locks go last, after the entries they guard
            if child.is_dir() and not child.is_symlink():
                removed += sum(1 for p in child.rglob("*") if p.is_file() and not p.name.endswith(".tmp"))
                shutil.rmtree(child, ignore_errors=True)
            else:
                removed += 1
                child.unlink(missing_ok=True)
        shutil.rmtree(self.root / _LOCKS, ignore_errors=True)
        log.info("cleared %d cache entries from %s", removed, self.root)
        return removed


@contextlib.contextmanager
def atomic_writer(path: Path) -> Iterator[IO[bytes]]:
    """Write ``path`` through a temporary file in its folder, moved into place with ``os.replace`` only if the block
    succeeds: a reader sees the old file or the new one, never half of one. The package's one atomic write (cache
    entries, the daily post, its state file and feed)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (``atomic_writer``)."""
    with atomic_writer(path) as f:
        f.write(data)


def _check_kind(kind: str) -> str:
    if not _KIND.fullmatch(kind):
        raise ValueError(f"cache kind {kind!r} must be lower-case letters, digits, '-' or '_'")
    return kind


def _file_name(key: str) -> str:
    """A file name for a key: kept as is when safe, else made safe with a hash so distinct keys stay distinct."""
    if not key:
        raise ValueError("cache key must not be empty")
    safe = _UNSAFE.sub("_", key).lstrip(".")
    if safe != key or len(safe) > 150:
        safe = f"{safe[:100]}-{hashlib.sha256(key.encode('utf-8')).hexdigest()[:12]}"
    return safe
