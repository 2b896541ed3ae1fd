"""The e-mail channel against a real SMTP server (aiosmtpd), plain, with AUTH and with TLS."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from typing import TYPE_CHECKING

import pytest
from farmwatch_alerting.channels import EmailChannel

from farmwatch.broker import free_port

if TYPE_CHECKING:
    from alerting.conftest import NotificationFactory, SmtpServer, StartSmtp
    from support.tls import TlsFiles

PASSWORD = "mật-khẩu-1"  # non-ASCII on purpose: smtplib alone cannot send it
WRONG_PASSWORD = "wrong"
SENDER = "canhbao@farmwatch.example.vn"


def parse(content: bytes) -> EmailMessage:
    message = email.message_from_bytes(content, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_vietnamese_subject_and_body_arrive_intact(
    smtp_server: SmtpServer, notification_factory: NotificationFactory
) -> None:
    notification = notification_factory(to="htx.thanhha@example.vn")
    channel = EmailChannel("email", smtp_server.host, smtp_server.port, SENDER, security="none")
    result = channel.send(notification)
    assert result.ok, result.detail
    (mail,) = smtp_server.mails
    assert mail.mail_from == SENDER
    assert mail.rcpt_tos == ["htx.thanhha@example.vn"]
    message = parse(mail.content)
    # Byte-exact after decoding: same code points, hence the same UTF-8 bytes.
    assert str(message["Subject"]).encode() == notification.subject.encode()
    body = message.get_content()
    assert body.startswith(notification.text)
    assert body.rstrip("\n").endswith(str(notification.ack_url))
    assert message["Message-ID"] == f"<{notification.id}@farmwatch>"
    assert message.get_content_charset() == "utf-8"


@pytest.mark.parametrize(
    ("reply", "retryable"),
    [
        ("451 4.7.1 Greylisted, try again later", True),
        ("452 4.2.2 Mailbox full", True),
        ("550 5.1.1 No such user", False),
        ("553 5.7.1 Relaying denied", False),
    ],
)
def test_recipient_refusals_by_reply_code(
    reply: str,
    retryable: bool,
    smtp_server: SmtpServer,
    notification_factory: NotificationFactory,
) -> None:
    smtp_server.refuse_next(reply)
    channel = EmailChannel("email", smtp_server.host, smtp_server.port, SENDER, security="none")
    result = channel.send(notification_factory(to="nobody@example.vn"))
    assert (result.ok, result.retryable) == (False, retryable)
    assert reply.split(maxsplit=1)[0] in result.detail
    assert smtp_server.mails == []


def test_connection_refused_is_retryable(notification_factory: NotificationFactory) -> None:
    channel = EmailChannel("email", "127.0.0.1", free_port(), SENDER, security="none", timeout_s=2)
    result = channel.send(notification_factory(to="a@example.vn"))
    assert (result.ok, result.retryable) == (False, True)


def test_login_with_starttls(
    start_smtp: StartSmtp, tls_files: TlsFiles, notification_factory: NotificationFactory
) -> None:
    server = start_smtp(users={"canhbao": PASSWORD}, starttls=tls_files)
    channel = EmailChannel(
        "email", "localhost", server.port, SENDER, security="starttls",
        username="canhbao", password=PASSWORD, ca_file=tls_files.cert,
    )  # fmt: skip
    notification = notification_factory(to="a@example.vn")
    result = channel.send(notification)
    assert result.ok, result.detail
    assert parse(server.mails[0].content).get_content().startswith(notification.text)


def test_ascii_login(
    start_smtp: StartSmtp, tls_files: TlsFiles, notification_factory: NotificationFactory
) -> None:
    server = start_smtp(users={"canhbao": WRONG_PASSWORD}, starttls=tls_files)
    channel = EmailChannel(
        "email", "localhost", server.port, SENDER, security="starttls",
        username="canhbao", password=WRONG_PASSWORD, ca_file=tls_files.cert,
    )  # fmt: skip
    assert channel.send(notification_factory(to="a@example.vn")).ok


def test_wrong_password_is_not_retryable(
    start_smtp: StartSmtp, tls_files: TlsFiles, notification_factory: NotificationFactory
) -> None:
    server = start_smtp(users={"canhbao": PASSWORD}, starttls=tls_files)
    channel = EmailChannel(
        "email", "localhost", server.port, SENDER, security="starttls",
        username="canhbao", password=WRONG_PASSWORD, ca_file=tls_files.cert,
    )  # fmt: skip
    result = channel.send(notification_factory(to="a@example.vn"))
    assert (result.ok, result.retryable) == (False, False)
    assert "535" in result.detail
    assert server.mails == []


def test_implicit_tls(
    start_smtp: StartSmtp, tls_files: TlsFiles, notification_factory: NotificationFactory
) -> None:
    server = start_smtp(implicit_tls=tls_files)
    channel = EmailChannel(
        "email", "localhost", server.port, SENDER, security="ssl", ca_file=tls_files.cert
    )
    assert channel.send(notification_factory(to="a@example.vn")).ok
    assert len(server.mails) == 1


def test_untrusted_certificate_is_not_retryable(
    start_smtp: StartSmtp, tls_files: TlsFiles, notification_factory: NotificationFactory
) -> None:
    server = start_smtp(implicit_tls=tls_files)
    channel = EmailChannel("email", "localhost", server.port, SENDER, security="ssl")
    result = channel.send(notification_factory(to="a@example.vn"))
    assert (result.ok, result.retryable) == (False, False)
    assert "certificate" in result.detail
    assert server.mails == []


def test_starttls_missing_on_the_server_is_a_configuration_error(
    smtp_server: SmtpServer, notification_factory: NotificationFactory
) -> None:
    channel = EmailChannel("email", smtp_server.host, smtp_server.port, SENDER)
    result = channel.send(notification_factory(to="a@example.vn"))
    assert (result.ok, result.retryable) == (False, False)
    assert "security" in result.detail
