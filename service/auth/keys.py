"""The token signing key: its id, and the 0600 file that keeps it when no key is configured.

Rotation (``neighborgrid rotate-secret``) writes a new key to the file with an atomic rename; every
worker process stats the file whenever it signs or checks a token and re-reads it when it changed
(another inode, size or modification time), so every worker refuses the old key at once, without a
restart. Old keys are not kept: rotation exists to end every session, for instance after a leak.
Tokens carry the key's id (JWT header ``kid``), so a token signed with a retired key is told apart
from a forged one.

With ``NEIGHBORGRID_SECRET_KEY`` set the key is the operator's and never written here; rotating it
means setting a new value and restarting the workers (``rotate-secret`` refuses and says so).
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import stat
import threading
from pathlib import Path

log = logging.getLogger(__name__)

#: File modes: the key is for this account only.
PRIVATE_MODE = 0o600


class SecretFileError(RuntimeError):
    """The secret file cannot be used (empty, not ours to tighten, not a regular file)."""


def key_id(key: str) -> str:
    """The id of ``key`` in token headers: a domain-separated SHA-256 fingerprint, 64 bits long.

    It reveals nothing the token's own HMAC does not already (both can only confirm a guessed key),
    and needs no storage: the same key has the same id in every worker."""
    return hashlib.sha256(b"neighborgrid signing key id\0" + key.encode()).hexdigest()[:16]


def new_key() -> str:
    """A fresh random key (384 bits)."""
    return secrets.token_urlsafe(48)


def write_private(path: Path, data: bytes, *, replace: bool) -> bool:
    """Write ``data`` to ``path`` as a 0600 file, whatever the umask, atomically (a temporary file in
    the same folder, then a rename). ``replace=False`` keeps an existing file (returns False) so that
    workers starting together agree on one key."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), PRIVATE_MODE)
    try:
        os.fchmod(fd, PRIVATE_MODE)  # the umask can only have removed bits; make it exact
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if replace:
            os.replace(tmp, path)
            return True
        try:
            os.link(tmp, path)  # fails if another process created the file first
        except FileExistsError:
            return False
        return True
    finally:
        tmp.unlink(missing_ok=True)


class SecretFile:
    """The key in one secret file, re-read when the file changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._seen: tuple[int, ...] | None = None
        self._key = ""

    def key(self) -> str:
        """The current key; creates the file (0600) with a random key if it does not exist."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            write_private(self.path, new_key().encode(), replace=False)
            st = os.stat(self.path)
        seen = (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size)
        if seen != self._seen:
            with self._lock:
                self._key = self._read()
                self._seen = seen
        return self._key

    def rotate(self) -> str:
        """Replace the key with a new random one; returns it."""
        key = new_key()
        write_private(self.path, key.encode(), replace=True)
        return key

    def _read(self) -> str:
        fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as fh:
            st = os.fstat(fh.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise SecretFileError(f"the secret file {self.path} is not a regular file")
            if st.st_mode & 0o077:
                try:
                    os.fchmod(fh.fileno(), PRIVATE_MODE)
                except OSError as exc:
                    raise SecretFileError(
                        f"the secret file {self.path} is readable by others (mode {stat.S_IMODE(st.st_mode):o}) "
                        f"and cannot be made 0600 ({exc.strerror}): fix its owner or mode, then run "
                        "`neighborgrid rotate-secret`, since the key may have been read"
                    ) from None
                log.warning(
                    "the secret file %s was readable by others (mode %o); it is now 0600. The key may have "
                    "been read: `neighborgrid rotate-secret` replaces it and ends every session",
                    self.path,
                    stat.S_IMODE(st.st_mode),
                )
            key = fh.read().decode().strip()
        if not key:
            raise SecretFileError(
                f"the secret file {self.path} is empty: run `neighborgrid rotate-secret` to write a new key"
            )
        return key


_files: dict[str, SecretFile] = {}
_files_lock = threading.Lock()


def secret_file(path: Path) -> SecretFile:
    """The one ``SecretFile`` of this process for ``path``."""
    name = os.path.abspath(path)
    with _files_lock:
        if name not in _files:
            _files[name] = SecretFile(Path(name))
        return _files[name]
