"""Notifiers by name (`aula worker --notifiers smtp,webhook`, AULA_NOTIFIERS).

Built in: `smtp` (channel email: the [smtp] table of the rules file) and `webhook` (channel
webhook: its [webhook] table). A notifier whose table is missing is not set up, as before: a
file without [smtp] sends no email. A deployment adds one (an SMS gateway behind the email
channel, a message queue behind the webhook one) without touching the workers: a factory
`create(config: WorkflowConfig, http: aiohttp.ClientSession) -> Notifier | None` (built on
`workflows.notify.Notifier`; None when the config does not set it up; its own settings in the
rules file's `[notifier.<name>]` table, `config.notifier_options(name)`), declared in its package's
entry point group `aula.notifiers`, or registered in code with `NOTIFIERS.register(name, factory)`.
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import aiohttp

from events.plugin import Registry

from .config import WorkflowConfig
from .notify import Notifier, SmtpNotifier, WebhookNotifier

CHANNELS = ("email", "webhook")
DEFAULT_NOTIFIERS = ("smtp", "webhook")

NotifierFactory = Callable[[WorkflowConfig, aiohttp.ClientSession], Optional[Notifier]]

NOTIFIERS: Registry[NotifierFactory] = Registry("notifier", "aula.notifiers")


def _smtp(config: WorkflowConfig, http: aiohttp.ClientSession) -> Optional[Notifier]:
    return None if config.smtp is None else SmtpNotifier(config.smtp, config.send_timeout_s)


def _webhook(config: WorkflowConfig, http: aiohttp.ClientSession) -> Optional[Notifier]:
    return None if config.webhook is None else WebhookNotifier(config.webhook, config.send_timeout_s, http)


NOTIFIERS.register("smtp", _smtp)
NOTIFIERS.register("webhook", _webhook)


def create_notifiers(names: Sequence[str], config: WorkflowConfig,
                     http: aiohttp.ClientSession) -> list[Notifier]:
    """The named notifiers that `config` sets up (UnknownPlugin for a name nothing answers to)."""
    factories = [NOTIFIERS.get(name) for name in names]  # every name checked before any is made
    notifiers = [notifier for factory in factories if (notifier := factory(config, http)) is not None]
    for notifier in notifiers:
        if notifier.channel not in CHANNELS:
            raise ValueError(f"notifier {notifier.name!r}: channel {notifier.channel!r} is not one of "
                             f"{', '.join(CHANNELS)}")
    return notifiers
