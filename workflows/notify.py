"""Sending notices: email over SMTP (aiosmtplib) and signed webhooks (aiohttp), each behind the
`Notifier` base, chosen by name (`aula worker --notifiers smtp,webhook`, workflows/registry.py).

A notifier serves a channel (`email`: the rules' email_guardian and email_summary actions;
`webhook`: their webhook action). Its calls are coroutines, so it closes with `await aclose()`
(idempotent). A failure is an `APIError`: `retryable` ones (a timeout, a refused connection, HTTP
408, 429 or 5xx) are tried again with backoff; the others (any other 4xx: the receiver refuses
this notice as it is) go straight to the dead letter with the reason.

Webhooks are signed as the payment providers do: header `Aula-Signature: t=<unix time>,
v1=<hex HMAC-SHA256 of "<t>.<body>" with the shared secret>`; receivers check the MAC and
refuse stale timestamps (replays). `Idempotency-Key` carries the cause event's id, and emails get
a Message-ID made from it, so a receiver can drop a duplicate even across a worker's crash.
"""

from __future__ import annotations

import abc
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any, ClassVar, Optional

import aiohttp
import aiosmtplib

from events.plugin import APIError, Meter

from .config import Smtp, Webhook

SIGNATURE_HEADER = "Aula-Signature"
SIGNATURE_TOLERANCE_S = 300
# Answers that may be different next time: the receiver timed out or is rate-limiting us.
RETRYABLE_4XX = frozenset({408, 429})


class SendFailed(APIError):
    """A notice was not delivered (`retryable`: whether trying again may deliver it)."""

    def __init__(self, message: str, retryable: bool = True) -> None:
        super().__init__(message, retryable)


@dataclass(frozen=True)
class Notice:
    """One notice to send. `to`: the recipient's address (email); a webhook posts to its own URL.
    `payload`: the structured form, for channels that carry one (webhook)."""
    subject: str
    body: str
    idempotency_key: str
    to: str = ""
    payload: dict[str, Any] = field(default_factory=dict)


class Notifier(abc.ABC):
    """The base of a notifier: subclasses set `name` and `channel` and implement `_send` (and
    `_aclose` if they hold a connection)."""

    name: ClassVar[str] = "notifier"
    channel: ClassVar[str] = "email"  # or "webhook": which rule actions it serves

    def __init__(self) -> None:
        self._meter = Meter(self.name, counts=("sent",))

    async def send(self, notice: Notice) -> None:
        """Deliver it or raise APIError (an unexpected failure is a retryable one)."""
        with self._meter.call("sent"):
            await self._send(notice)

    @abc.abstractmethod
    async def _send(self, notice: Notice) -> None:
        ...

    def destination(self, notice: Notice) -> str:
        """Where the notice goes, as the notification events and the dead letter name it."""
        return notice.to

    async def aclose(self) -> None:
        if self._meter.close_once():
            await self._aclose()

    async def _aclose(self) -> None:
        """Release what the notifier holds (a connection pool); called once."""

    @property
    def closed(self) -> bool:
        return self._meter.closed

    def metrics(self) -> dict[str, object]:
        """{name, sent, errors, busy_s, closed}"""
        return {**self._meter.snapshot(), "channel": self.channel}


class SmtpNotifier(Notifier):
    name = "smtp"
    channel = "email"

    def __init__(self, smtp: Smtp, timeout_s: float) -> None:
        super().__init__()
        self.smtp = smtp
        self.timeout_s = timeout_s

    async def _send(self, notice: Notice) -> None:
        await send_email(self.smtp, notice.to, notice.subject, notice.body, notice.idempotency_key,
                         self.timeout_s)


class WebhookNotifier(Notifier):
    name = "webhook"
    channel = "webhook"

    def __init__(self, webhook: Webhook, timeout_s: float, http: Optional[aiohttp.ClientSession] = None) -> None:
        """`http`: a session to share (the caller closes it); without, one of its own."""
        super().__init__()
        self.webhook = webhook
        self.timeout_s = timeout_s
        self._http = http
        self._owns_http = http is None

    async def _send(self, notice: Notice) -> None:
        if self._http is None:
            self._http = aiohttp.ClientSession()
        await post_webhook(self._http, self.webhook, notice.payload, notice.idempotency_key, self.timeout_s)

    def destination(self, notice: Notice) -> str:
        return self.webhook.url

    async def _aclose(self) -> None:
        if self._owns_http and self._http is not None:
            await self._http.close()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, header: str, body: bytes, now: Optional[float] = None) -> bool:
    """What a receiver does: a valid MAC over this body, made within the tolerance."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs((now or time.time()) - timestamp) > SIGNATURE_TOLERANCE_S:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), header)


async def send_email(smtp: Smtp, to: str, subject: str, body: str, idempotency_key: str,
                     timeout_s: float) -> None:
    message = EmailMessage()
    message["From"] = smtp.sender
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = f"<{idempotency_key}@aula>"
    message.set_content(body)
    try:
        await aiosmtplib.send(message, hostname=smtp.host, port=smtp.port, start_tls=smtp.starttls,
                              username=smtp.username, password=smtp.password, timeout=timeout_s)
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise SendFailed(f"SMTP {smtp.host}:{smtp.port}: {exc}") from exc


async def post_webhook(http: aiohttp.ClientSession, webhook: Webhook, payload: dict[str, Any],
                       idempotency_key: str, timeout_s: float) -> None:
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json", "Idempotency-Key": idempotency_key,
               SIGNATURE_HEADER: sign(webhook.secret, int(time.time()), body)}
    try:
        async with http.post(webhook.url, data=body, headers=headers,
                             timeout=aiohttp.ClientTimeout(total=timeout_s)) as response:
            if response.status >= 300:
                retryable = not (400 <= response.status < 500) or response.status in RETRYABLE_4XX
                reason = await _reason(response)
                raise SendFailed(f"webhook {webhook.url}: HTTP {response.status}"
                                 + (f" {reason}" if reason else ""), retryable=retryable)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise SendFailed(f"webhook {webhook.url}: {exc}") from exc


async def _reason(response: aiohttp.ClientResponse) -> str:
    """The start of a refusal's body: receivers often say there what they did not like."""
    try:
        return (await response.text(errors="replace"))[:200].strip()
    except (aiohttp.ClientError, TimeoutError, UnicodeDecodeError, LookupError):
        return ""
