"""Encryption keys with ids: one primary key seals, every listed key opens.

Keys come from ``TOKENWARD_ENCRYPTION_KEYS`` (``kid:base64,…``, first is primary) or from a JSON key
file ``{"primary": "kid", "keys": {"kid": "base64"}}`` kept at mode 0600. A key file is re-read
when it changes, so ``tokenward keys rotate`` run beside a live service takes effect without a
restart.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import secrets
import stat
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tokenward.errors import ConfigurationError

__all__ = ["KeySource", "Keyring", "generate_key_id", "read_key_file", "write_key_file"]

_KID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
KEY_BYTES = 32


@dataclass(frozen=True, repr=False)
class Keyring:
    """An immutable set of AES-256 keys by id. Never printed: ``repr`` shows ids only."""

    primary: str
    keys: dict[str, bytes] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.primary not in self.keys:
            raise ConfigurationError(f"primary key id {self.primary!r} is not among the keys")
        for kid, key in self.keys.items():
            if not _KID.match(kid):
                raise ConfigurationError(f"key id {kid!r} must match {_KID.pattern}")
            if len(key) != KEY_BYTES:
                raise ConfigurationError(f"key {kid!r} must be 32 bytes (AES-256), not {len(key)}")

    def __repr__(self) -> str:
        return f"Keyring(primary={self.primary!r}, ids={sorted(self.keys)!r})"

    @classmethod
    def from_env_value(cls, value: str) -> Keyring:
        keys: dict[str, bytes] = {}
        order: list[str] = []
        for item in (part.strip() for part in value.split(",")):
            if not item:
                continue
            kid, sep, encoded = item.partition(":")
            if not sep:
                raise ConfigurationError(
                    "TOKENWARD_ENCRYPTION_KEYS entries must be 'kid:base64key'"
                )
            keys[kid.strip()] = _decode_key(kid.strip(), encoded.strip())
            order.append(kid.strip())
        if not order:
            raise ConfigurationError("TOKENWARD_ENCRYPTION_KEYS holds no key")
        return cls(primary=order[0], keys=keys)

    def with_new_primary(self) -> Keyring:
        kid = generate_key_id()
        return Keyring(primary=kid, keys={**self.keys, kid: secrets.token_bytes(KEY_BYTES)})

    def without(self, kid: str) -> Keyring:
        if kid == self.primary:
            raise ConfigurationError("the primary key cannot be retired")
        if kid not in self.keys:
            raise ConfigurationError(f"no key with id {kid!r}")
        return Keyring(primary=self.primary, keys={k: v for k, v in self.keys.items() if k != kid})


def generate_key_id() -> str:
    return time.strftime("k%Y%m%d") + "-" + secrets.token_hex(3)


def new_keyring() -> Keyring:
    kid = generate_key_id()
    return Keyring(primary=kid, keys={kid: secrets.token_bytes(KEY_BYTES)})


def _decode_key(kid: str, encoded: str) -> bytes:
    try:
        return base64.b64decode(
            encoded, altchars=b"-_" if "-" in encoded or "_" in encoded else None, validate=True
        )
    except (binascii.Error, ValueError):
        raise ConfigurationError(f"key {kid!r} is not valid base64") from None


def read_key_file(path: Path) -> Keyring:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ConfigurationError(f"key file {path} does not exist") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigurationError(f"key file {path} must not be readable by others (chmod 600)")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        keys = {str(k): _decode_key(str(k), str(v)) for k, v in doc["keys"].items()}
        return Keyring(primary=str(doc["primary"]), keys=keys)
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ConfigurationError(f"key file {path} is not a tokenward key file") from None


def write_key_file(path: Path, ring: Keyring) -> None:
    """Write atomically with mode 0600 (temp file, fsync, rename)."""
    doc = {
        "primary": ring.primary,
        "keys": {kid: base64.b64encode(key).decode() for kid, key in ring.keys.items()},
    }
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, json.dumps(doc, indent=2).encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


class KeySource:
    """The live keyring. A key file is re-read (at most once a second) when its mtime changes."""

    def __init__(self, ring: Keyring, path: Path | None = None) -> None:
        self._ring = ring
        self._path = path
        self._mtime = _signature(path) if path else None
        self._checked = time.monotonic()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"KeySource({self._ring!r}, path={self._path})"

    @property
    def path(self) -> Path | None:
        return self._path

    def current(self) -> Keyring:
        if self._path is not None and time.monotonic() - self._checked > 1.0:
            self._maybe_reload()
        return self._ring

    def reload(self) -> Keyring:
        """Re-read the key file now (used when a ciphertext names a key we do not hold)."""
        if self._path is not None:
            self._checked = 0.0
            self._maybe_reload(force=True)
        return self._ring

    def _maybe_reload(self, *, force: bool = False) -> None:
        assert self._path is not None
        with self._lock:
            self._checked = time.monotonic()
            try:
                mtime = _signature(self._path)
            except FileNotFoundError:
                return  # keep serving with the keys we hold; the operator sees it at next start
            if force or mtime != self._mtime:
                self._ring = read_key_file(self._path)
                self._mtime = mtime


def _signature(path: Path) -> tuple[int, int, int]:
    """What changes when the key file is rewritten. The modification time alone does not do:
    it moves in coarse clock ticks, so two writes within one tick look alike; an atomic rewrite
    (write then rename, as ``write_key_file`` does) also gives the file a new inode."""
    found = path.stat()
    return found.st_ino, found.st_mtime_ns, found.st_size
