"""The workflow rules, from a readable TOML file (`aula worker --config rules.toml`).

    [smtp]
    host = "smtp.school.org"
    port = 587
    from = "Aula <no-reply@school.org>"
    starttls = true            # username / password from AULA_SMTP_USERNAME / AULA_SMTP_PASSWORD

    [webhook]
    url = "https://sis.school.org/hooks/aula"   # secret from AULA_WEBHOOK_SECRET

    [[rule]]
    on = "attendance.no_show"
    actions = ["email_guardian", "webhook", "flag", "record"]
    template = "no_show"

    [template.no_show]
    subject = "{student} was not in {title}"
    body = "Dear {guardian},\\n\\n{student} did not join {title} (scheduled {scheduled_start}). ..."

    [notifier.sms]             # a plug-in notifier's own settings (workflows/registry.py)
    gateway = "https://sms.example.org"

Without a file the defaults below apply: a no-show emails the guardian (when SMTP is set),
posts the webhook (when one is set), raises a flag and is written to the student's record.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

ACTIONS = ("email_guardian", "email_summary", "webhook", "flag", "record")
# What a template may use.
PLACEHOLDERS = {"student": "", "guardian": "", "title": "", "scheduled_start": "", "late_minutes": 0,
                # summary.approved only: the class part and this student's part, as the instructor approved them
                "overview": "", "key_points": "", "action_items": "", "student_summary": "", "instructor_note": ""}


class ConfigInvalid(ValueError):
    pass


@dataclass(frozen=True)
class Smtp:
    host: str
    port: int = 25
    sender: str = "Aula <no-reply@localhost>"
    starttls: bool = False
    username: Optional[str] = None
    password: Optional[str] = None


@dataclass(frozen=True)
class Webhook:
    url: str
    secret: str


@dataclass(frozen=True)
class Template:
    subject: str
    body: str


@dataclass(frozen=True)
class Rule:
    on: str
    actions: tuple[str, ...]
    template: Optional[str] = None


DEFAULT_TEMPLATES = {
    "no_show": Template(
        subject="{student} was not in {title}",
        body=("Dear {guardian},\n\n{student} did not join today's class \"{title}\" (scheduled for "
              "{scheduled_start}, UTC). If you know why, please let the school know.\n\n"
              "This message was sent automatically by the school's class platform.\n")),
    "late": Template(
        subject="{student} was late to {title}",
        body="Dear {guardian},\n\n{student} joined \"{title}\" {late_minutes} minutes late.\n"),
    "summary": Template(
        subject="{title}: today's class summary for {student}",
        body=("Dear {guardian},\n\nHere is the summary of today's class \"{title}\", as approved by the "
              "teacher.\n\n{overview}\n\nKey points:\n{key_points}\n\nFor next time:\n{action_items}\n\n"
              "About {student}:\n{student_summary}\n{instructor_note}\n"
              "This message was sent by the school's class platform.\n")),
}
DEFAULT_RULES = (
    Rule("attendance.no_show", ("email_guardian", "webhook", "flag", "record"), "no_show"),
    Rule("attendance.summary", ("record",)),
    Rule("summary.approved", ("email_summary",), "summary"),
)


@dataclass(frozen=True)
class WorkflowConfig:
    rules: tuple[Rule, ...] = DEFAULT_RULES
    templates: dict[str, Template] = field(default_factory=lambda: dict(DEFAULT_TEMPLATES))
    smtp: Optional[Smtp] = None
    webhook: Optional[Webhook] = None
    # Each notice is tried this many times, waiting base × 2^n between tries, then dead-lettered.
    max_attempts: int = 5
    retry_base_s: float = 1.0
    # One attempt (an SMTP session, a webhook POST) gives up after this long.
    send_timeout_s: float = 15.0
    # [notifier.<name>] tables: plug-in notifiers' own settings.
    notifier_tables: dict[str, dict[str, Any]] = field(default_factory=dict)

    def notifier_options(self, name: str) -> dict[str, Any]:
        return dict(self.notifier_tables.get(name, {}))

    @property
    def longest_send_s(self) -> float:
        """Every attempt of one notice and the waits between them: how long a worker may hold it."""
        waits = sum(self.retry_base_s * 2 ** n for n in range(self.max_attempts - 1))
        return self.max_attempts * self.send_timeout_s + waits

    def rules_for(self, event_type: str) -> list[Rule]:
        return [rule for rule in self.rules if rule.on == event_type]


def load_config(path: Optional[Path], env: Optional[dict[str, str]] = None) -> WorkflowConfig:
    env = dict(os.environ) if env is None else env
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigInvalid(f"{path}: {exc}") from exc
    templates = dict(DEFAULT_TEMPLATES)
    for name, body in raw.get("template", {}).items():
        if not isinstance(body, dict) or not {"subject", "body"} <= set(body):
            raise ConfigInvalid(f"template.{name} needs a subject and a body")
        template = Template(str(body["subject"]), str(body["body"]))
        try:
            template.subject.format_map(PLACEHOLDERS)
            template.body.format_map(PLACEHOLDERS)
        except (KeyError, ValueError, IndexError) as exc:
            raise ConfigInvalid(f"template.{name}: unknown placeholder or bad braces ({exc}); "
                                f"use {', '.join('{' + p + '}' for p in PLACEHOLDERS)}") from exc
        templates[name] = template
    rules = DEFAULT_RULES
    if "rule" in raw:
        rules = tuple(_rule(item, templates) for item in raw["rule"])
    smtp = None
    if "smtp" in raw:
        s = raw["smtp"]
        smtp = Smtp(host=str(s["host"]), port=int(s.get("port", 25)), sender=str(s.get("from", Smtp.sender)),
                    starttls=bool(s.get("starttls", False)), username=env.get("AULA_SMTP_USERNAME"),
                    password=env.get("AULA_SMTP_PASSWORD"))
    webhook = None
    if "webhook" in raw:
        secret = env.get("AULA_WEBHOOK_SECRET") or raw["webhook"].get("secret")
        if not secret:
            raise ConfigInvalid("webhook: set AULA_WEBHOOK_SECRET (outgoing webhooks are always signed)")
        webhook = Webhook(str(raw["webhook"]["url"]), str(secret))
    retry = raw.get("retry", {})
    tables = raw.get("notifier", {})
    if not isinstance(tables, dict) or not all(isinstance(table, dict) for table in tables.values()):
        raise ConfigInvalid("notifier: each [notifier.<name>] is a table of that notifier's settings")
    return WorkflowConfig(rules=rules, templates=templates, smtp=smtp, webhook=webhook,
                          max_attempts=int(retry.get("max_attempts", 5)),
                          retry_base_s=float(retry.get("base_s", 1.0)),
                          send_timeout_s=float(retry.get("timeout_s", 15.0)),
                          notifier_tables=tables)


def _rule(item: Any, templates: dict[str, Template]) -> Rule:
    if not isinstance(item, dict) or not isinstance(item.get("on"), str):
        raise ConfigInvalid("each [[rule]] needs on = \"<event type>\"")
    actions = tuple(item.get("actions", ()))
    unknown = set(actions) - set(ACTIONS)
    if unknown:
        raise ConfigInvalid(f"rule on {item['on']}: unknown actions {', '.join(sorted(unknown))}")
    template = item.get("template")
    if template is not None and template not in templates:
        raise ConfigInvalid(f"rule on {item['on']}: no template {template!r}")
    return Rule(item["on"], actions, template)
