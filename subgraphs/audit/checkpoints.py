"""Signed checkpoints: Ed25519-signed chain heads, with the hashes they cover, written outside the database."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from subgraphs.audit.models import Evidence

log = structlog.get_logger(__name__)

FORMAT = "finpace-audit-checkpoint/1"


def load_or_create_key(path: Path) -> Ed25519PrivateKey:
    """Loads the PEM Ed25519 signing key at path, creating it (mode 0600) and its .pub beside it if missing."""
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{path} does not hold an Ed25519 private key.")
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    public_path(path).write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    log.info("audit_signing_key_created", path=str(path))
    return key


def public_path(key_path: Path) -> Path:
    """Returns where the public half of a signing key is kept."""
    return key_path.with_suffix(".pub")


def load_public_key(path: Path) -> Ed25519PublicKey:
    """Loads a PEM Ed25519 public key (or derives it from a private key file)."""
    raw = path.read_bytes()
    if b"PRIVATE KEY" in raw:
        private = serialization.load_pem_private_key(raw, password=None)
        assert isinstance(private, Ed25519PrivateKey)
        return private.public_key()
    key = serialization.load_pem_public_key(raw)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"{path} does not hold an Ed25519 public key.")
    return key


def key_id(public: Ed25519PublicKey) -> str:
    """Returns a short id of a public key (first 16 hex digits of the raw key)."""
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()[:16]


def _signed_bytes(body: dict[str, Any]) -> bytes:
    unsigned = {k: v for k, v in body.items() if k != "signature"}
    return json.dumps(unsigned, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Checkpoint:
    """A verified checkpoint: the chain's hashes for sequences from_seq..to_seq."""

    path: Path
    from_seq: int
    to_seq: int
    head_hash: str
    hashes: tuple[str, ...]
    created_at: str

    def expected(self, sequence: int) -> str | None:
        """Returns the hash this checkpoint recorded for a sequence, or None outside its range."""
        if self.from_seq <= sequence <= self.to_seq:
            return self.hashes[sequence - self.from_seq]
        return None


class CheckpointError(Exception):
    """A checkpoint file is malformed or its signature does not verify."""

    def __init__(self, path: Path, message: str) -> None:
        super().__init__(f"{path.name}: {message}")
        self.path = path


def read_checkpoints(directory: Path, public: Ed25519PublicKey) -> list[Checkpoint]:
    """Reads and verifies every checkpoint in the directory, in sequence order; raises CheckpointError."""
    found: list[Checkpoint] = []
    for path in sorted(directory.glob("*.json")) if directory.exists() else []:
        try:
            body = json.loads(path.read_text())
            public.verify(base64.b64decode(body["signature"]), _signed_bytes(body))
            hashes = tuple(body["hashes"])
            checkpoint = Checkpoint(path=path, from_seq=int(body["from_sequence"]), to_seq=int(body["to_sequence"]),
                                    head_hash=body["head_hash"], hashes=hashes, created_at=body["created_at"])
        except InvalidSignature:
            raise CheckpointError(path, "signature does not verify") from None
        except (KeyError, ValueError, TypeError) as exc:
            raise CheckpointError(path, f"malformed ({exc!r})") from None
        if len(hashes) != checkpoint.to_seq - checkpoint.from_seq + 1 or hashes[-1] != checkpoint.head_hash:
            raise CheckpointError(path, "its hashes do not match its range")
        found.append(checkpoint)
    found.sort(key=lambda c: c.to_seq)
    return found


def write_checkpoint(directory: Path, key: Ed25519PrivateKey, *, from_seq: int, hashes: list[str]) -> Path:
    """Signs and atomically writes one checkpoint covering from_seq..from_seq+len(hashes)-1."""
    directory.mkdir(parents=True, exist_ok=True)
    to_seq = from_seq + len(hashes) - 1
    body: dict[str, Any] = {
        "format": FORMAT,
        "from_sequence": from_seq,
        "to_sequence": to_seq,
        "head_hash": hashes[-1],
        "hashes": hashes,
        "created_at": dt.datetime.now(dt.UTC).isoformat(),
        "key_id": key_id(key.public_key()),
    }
    body["signature"] = base64.b64encode(key.sign(_signed_bytes(body))).decode()
    path = directory / f"{to_seq:015d}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(body, separators=(",", ":")))
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    tmp.replace(path)
    return path


@dataclass
class Checkpointer:
    """Writes a checkpoint every `every_entries` entries, or after `every_seconds` when entries are pending."""

    sessions: async_sessionmaker[AsyncSession]
    directory: Path
    key: Ed25519PrivateKey
    every_entries: int = 1000
    every_seconds: float = 300.0
    last_seq: int | None = field(default=None, init=False)
    _last_time: float = field(default_factory=time.monotonic, init=False)

    def _recorded_seq(self) -> int:
        if self.last_seq is None:
            files = sorted(self.directory.glob("*.json")) if self.directory.exists() else []
            self.last_seq = int(json.loads(files[-1].read_text())["to_sequence"]) if files else 0
        return self.last_seq

    async def run_once(self, *, force: bool = False) -> list[Path]:
        """Writes the checkpoints that are due (all pending entries when forced); returns their paths."""
        start = self._recorded_seq()
        async with self.sessions() as session:
            rows = (await session.execute(
                select(Evidence.sequence, Evidence.hash).where(Evidence.sequence > start).order_by(Evidence.sequence)
            )).all()
        written: list[Path] = []
        due_by_time = time.monotonic() - self._last_time >= self.every_seconds
        while rows:
            chunk = rows[: self.every_entries]
            if len(chunk) < self.every_entries and not (force or due_by_time):
                break
            written.append(write_checkpoint(self.directory, self.key, from_seq=chunk[0].sequence,
                                            hashes=[r.hash for r in chunk]))
            self.last_seq = chunk[-1].sequence
            rows = rows[len(chunk):]
        if written or due_by_time:
            self._last_time = time.monotonic()
        return written
