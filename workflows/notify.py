"""Sending notices: email over SMTP (aiosmtplib) and signed webhooks (aiohttp).

Webhooks are signed as the payment providers do: header `Aula-Signature: t=<unix time>,
v1=<hex HMAC-SHA256 of "<t>.<body>" with the shared secret>`; receivers check the MAC and
refuse stale timestamps (replays). `Idempotency-Key` carries the cause event's id, and emails get
a Message-ID made from it, so a receiver can drop a duplicate even across a worker's crash.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from email.message import EmailMessage
from typing import Any, Optional

import aiohttp
import aiosmtplib

from .config import Smtp, Webhook

SIGNATURE_HEADER = "Aula-Signature"
SIGNATURE_TOLERANCE_S = 300


class SendFailed(Exception):
    pass


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
                raise SendFailed(f"webhook {webhook.url}: HTTP {response.status}")
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise SendFailed(f"webhook {webhook.url}: {exc}") from exc
