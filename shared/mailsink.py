"""The dev mail sink `finpace up` runs in the dev profile: an SMTP server on 127.0.0.1:1025 (plus
FINPACE_PORT_OFFSET, like every service; `up` points the notification subgraph at it) that writes every
message to <data_dir>/mail/*.eml and logs it."""

from __future__ import annotations

import datetime as dt
import itertools
import os
from dataclasses import dataclass, field
from email import message_from_bytes
from email.policy import default as email_policy
from pathlib import Path
from typing import Any

import structlog

from shared.config import Settings
from shared.processes import port_is_free

log = structlog.get_logger(__name__)

SINK_HOST, SINK_PORT = "127.0.0.1", 1025


@dataclass
class MailSinkHandler:
    """aiosmtpd handler: stores each accepted message as an .eml file (envelope sender/recipients in headers)."""

    directory: Path
    received: list[Path] = field(default_factory=list)
    _counter: itertools.count[int] = field(default_factory=itertools.count)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content: bytes = envelope.original_content or envelope.content
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
        path = self.directory / f"{stamp}-{next(self._counter):04d}.eml"
        head = f"X-Finpace-Mail-From: {envelope.mail_from}\r\nX-Finpace-Rcpt-To: {', '.join(envelope.rcpt_tos)}\r\n"
        path.write_bytes(head.encode() + content)
        self.received.append(path)
        subject = message_from_bytes(content, policy=email_policy).get("subject", "")
        log.info("dev_mail_received", to=envelope.rcpt_tos, subject=str(subject), file=str(path))
        return "250 Message accepted for delivery"


@dataclass
class MailSink:
    """A running sink: its address and where it writes; stop() shuts it down."""

    host: str
    port: int
    directory: Path
    handler: MailSinkHandler
    controller: Any

    def stop(self) -> None:
        self.controller.stop()


def sink_port() -> int:
    """The sink's port: 1025 moved by FINPACE_PORT_OFFSET, as `finpace up` moves every service."""
    offset = os.environ.get("FINPACE_PORT_OFFSET")
    return SINK_PORT + (int(offset) if offset else 0)


def start_dev_mail_sink(settings: Settings, *, host: str = SINK_HOST, port: int | None = None) -> MailSink | None:
    """Starts the sink in the dev profile unless another SMTP relay is configured or the port is taken."""
    if not settings.is_dev:
        return None
    port = sink_port() if port is None else port
    configured = os.environ.get("FINPACE_NOTIFICATION_SMTP_HOST"), os.environ.get("FINPACE_NOTIFICATION_SMTP_PORT")
    if configured[0] not in (None, "", host) or configured[1] not in (None, "", str(port)):
        return None  # the notification subgraph sends to a relay of the developer's choosing
    if not port_is_free(port, host):
        log.warning("dev_mail_sink_skipped", reason=f"{host}:{port} is already taken (another mail sink?)")
        return None
    try:
        from aiosmtpd.controller import Controller
    except ImportError:
        log.warning("dev_mail_sink_skipped", reason="aiosmtpd is not installed (pip install 'finpace[dev]')")
        return None
    directory = Path(settings.data_dir).absolute() / "mail"
    directory.mkdir(parents=True, exist_ok=True)
    handler = MailSinkHandler(directory)
    controller = Controller(handler, hostname=host, port=port)
    controller.start()
    log.info("dev_mail_sink_started", smtp=f"{host}:{port}", directory=str(directory))
    return MailSink(host, port, directory, handler, controller)
