"""E-mail over SMTP (smtplib): plain text, UTF-8, for cooperatives and extension officers.

Security is ``starttls`` (port 587, RFC 3207), ``ssl`` (implicit TLS, port 465, RFC 8314) or
``none`` (a local relay); login is optional. The subject and body are UTF-8 (RFC 2047 encoded
words in the header, base64 or 8bit in the body), so "Oxy hòa tan thấp ở ao 2" arrives intact.
``Message-ID`` is derived from the notification id, so a retry after a lost reply is
recognisable as the same message.

Classification (RFC 5321 §4.2.1): a 4xx reply is transient (greylisting, mailbox busy,
rate limit) and retryable, as are connection failures and timeouts; a 5xx reply is permanent
(no such user, relaying denied, authentication failed) and is not.
"""

from __future__ import annotations

import base64
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Literal

from farmwatch_alerting.notification import DeliveryResult, Notification

__all__ = ["EmailChannel", "Security", "build_message"]

Security = Literal["none", "starttls", "ssl"]


def build_message(notification: Notification, sender: str) -> EmailMessage:
    """The e-mail for ``notification`` (one recipient: ``notification.to``)."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = notification.to
    message["Subject"] = notification.subject
    message["Date"] = formatdate(notification.created_at.timestamp(), usegmt=True)
    message["Message-ID"] = f"<{notification.id}@farmwatch>"
    message["Content-Language"] = notification.language
    body = notification.text
    if notification.ack_url:
        body += f"\n\n{notification.ack_url}"
    message.set_content(body, charset="utf-8")
    return message


def _reply(code: int, text: bytes | str) -> str:
    reply = text.decode(errors="replace") if isinstance(text, bytes) else text
    return f"SMTP {code} {reply}".strip()


def _by_code(code: int, detail: str) -> DeliveryResult:
    if 400 <= code < 500:
        return DeliveryResult.retry(detail)
    return DeliveryResult.fail(detail)


class EmailChannel:
    """Sends each notification as one e-mail; a connection per send (alerts are rare)."""

    def __init__(
        self,
        name: str,
        host: str,
        port: int,
        sender: str,
        *,
        security: Security = "starttls",
        username: str | None = None,
        password: str | None = None,
        ca_file: Path | None = None,
        timeout_s: float = 15.0,
    ) -> None:
        self.name = name
        self.host = host
        self.port = port
        self.sender = sender
        self.security: Security = security
        self.username = username
        self.password = password
        self.ca_file = ca_file
        self.timeout_s = timeout_s

    def _tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)

    def _connect(self) -> smtplib.SMTP:
        if self.security == "ssl":
            return smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout_s, context=self._tls()
            )
        smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout_s)
        if self.security == "starttls":
            try:
                smtp.starttls(context=self._tls())
            except BaseException:
                smtp.close()  # not yet in a `with`: close it here or leak the socket
                raise
        return smtp

    def _login(self, smtp: smtplib.SMTP) -> None:
        """``smtp.login``, except for non-ASCII credentials, which smtplib cannot encode:
        those go as AUTH PLAIN in UTF-8, as RFC 4616 §2 defines it."""
        username, password = self.username or "", self.password or ""
        if username.isascii() and password.isascii():
            smtp.login(username, password)
            return
        smtp.ehlo_or_helo_if_needed()
        token = base64.b64encode(f"\0{username}\0{password}".encode()).decode()
        code, reply = smtp.docmd("AUTH", f"PLAIN {token}")
        if code != 235:
            raise smtplib.SMTPAuthenticationError(code, reply)

    def send(self, notification: Notification) -> DeliveryResult:
        message = build_message(notification, self.sender)
        try:
            with self._connect() as smtp:
                if self.username:
                    self._login(smtp)
                refused = smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            detail = "; ".join(f"{rcpt}: {_reply(c, t)}" for rcpt, (c, t) in exc.recipients.items())
            if codes and all(400 <= code < 500 for code in codes):
                return DeliveryResult.retry(detail)
            return DeliveryResult.fail(detail)
        except smtplib.SMTPNotSupportedError as exc:
            return DeliveryResult.fail(f"SMTP: {exc} (check the channel's security setting)")
        except smtplib.SMTPResponseException as exc:  # auth, sender, data: by reply code
            return _by_code(exc.smtp_code, _reply(exc.smtp_code, exc.smtp_error))
        except UnicodeError as exc:  # e.g. a non-ASCII address the server cannot take
            return DeliveryResult.fail(f"SMTP: cannot encode the message: {exc}")
        except ssl.SSLCertVerificationError as exc:
            return DeliveryResult.fail(f"SMTP TLS: {exc.verify_message} (check ca_file/host)")
        except (smtplib.SMTPException, OSError) as exc:
            # Disconnected, refused, timed out, DNS: the server may be back later.
            return DeliveryResult.retry(f"SMTP {type(exc).__name__}: {exc}")
        if refused:
            # Only possible with several recipients in `to`: some got it, retrying would
            # duplicate it for them, so report what was refused and stop.
            return DeliveryResult.fail(
                "; ".join(f"{rcpt}: {_reply(c, t)}" for rcpt, (c, t) in refused.items())
            )
        return DeliveryResult.success(f"SMTP accepted by {self.host}:{self.port}")
