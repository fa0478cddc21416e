"""Audit settings read from FINPACE_AUDIT_* variables, with defaults under the data directory."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from shared.config import Settings
from subgraphs.audit.checkpoints import public_path
from subgraphs.audit.models import WRITER_ROLE


@dataclass(frozen=True)
class AuditConfig:
    """Where checkpoints and the signing key live, how often to checkpoint, and when the consumer counts as stalled."""

    checkpoint_dir: Path
    signing_key: Path
    public_key: Path | None = None
    checkpoint_every_entries: int = 1000
    checkpoint_every_seconds: float = 300.0
    checkpoint_poll_seconds: float = 2.0
    monitor_seconds: float = 5.0
    stall_seconds: float = 30.0
    # How often a standby replica tries to become the one that consumes (and the leader checks it still is).
    leader_poll_seconds: float = 2.0
    # The PostgreSQL role the service's connections run as; None: the login user's own privileges.
    db_role: str | None = WRITER_ROLE

    @classmethod
    def from_settings(cls, settings: Settings) -> AuditConfig:
        """Builds the config from FINPACE_AUDIT_* (defaults: <data_dir>/audit-checkpoints, <data_dir>/audit-keys)."""
        env = os.environ.get
        data = Path(settings.data_dir).absolute()
        public = env("FINPACE_AUDIT_PUBLIC_KEY")
        return cls(
            checkpoint_dir=Path(env("FINPACE_AUDIT_CHECKPOINT_DIR") or data / "audit-checkpoints"),
            signing_key=Path(env("FINPACE_AUDIT_SIGNING_KEY") or data / "audit-keys" / "checkpoint-ed25519.pem"),
            public_key=Path(public) if public else None,
            checkpoint_every_entries=int(env("FINPACE_AUDIT_CHECKPOINT_EVERY_ENTRIES") or 1000),
            checkpoint_every_seconds=float(env("FINPACE_AUDIT_CHECKPOINT_EVERY_SECONDS") or 300),
            leader_poll_seconds=float(env("FINPACE_AUDIT_LEADER_POLL_SECONDS") or 2),
            db_role=env("FINPACE_AUDIT_DB_ROLE", WRITER_ROLE) or None,
        )

    def public_key_path(self) -> Path:
        """Returns the public key the verifier trusts (FINPACE_AUDIT_PUBLIC_KEY, else beside the signing key)."""
        if self.public_key is not None:
            return self.public_key
        pub = public_path(self.signing_key)
        return pub if pub.exists() else self.signing_key
