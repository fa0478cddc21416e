"""The dev mail sink of `finpace up`: e-mail sent to it lands as .eml files in the data directory."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from pathlib import Path

import pytest

from shared.config import Profile, Settings
from shared.embedded import free_port
from shared.mailsink import start_dev_mail_sink


def _send(port: int, subject: str) -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "no-reply@finpace.local", "ana@example.com", subject
    message.set_content("Your statement is ready.")
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        smtp.send_message(message)


def test_the_dev_sink_writes_each_mail_to_the_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FINPACE_NOTIFICATION_SMTP_HOST", raising=False)
    monkeypatch.delenv("FINPACE_NOTIFICATION_SMTP_PORT", raising=False)
    port = free_port()
    sink = start_dev_mail_sink(Settings(profile=Profile.DEV, data_dir=tmp_path), port=port)
    assert sink is not None
    try:
        _send(port, "Statement ready")
        _send(port, "Ünïcode subject")
    finally:
        sink.stop()
    files = sorted((tmp_path / "mail").glob("*.eml"))
    assert files == sink.handler.received and len(files) == 2
    first = files[0].read_text()
    assert "X-Finpace-Rcpt-To: ana@example.com" in first and "Subject: Statement ready" in first
    assert "Your statement is ready." in first


def test_no_sink_outside_dev_or_when_another_relay_is_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    monkeypatch.delenv("FINPACE_NOTIFICATION_SMTP_HOST", raising=False)
    monkeypatch.setenv("FINPACE_NOTIFICATION_SMTP_PORT", "2525")
    assert start_dev_mail_sink(Settings(profile=Profile.DEV, data_dir=tmp_path), port=port) is None
    monkeypatch.delenv("FINPACE_NOTIFICATION_SMTP_PORT")
    prod = Settings.model_construct(profile=Profile.PROD, data_dir=tmp_path)
    assert start_dev_mail_sink(prod, port=port) is None
    assert not (tmp_path / "mail").exists()
