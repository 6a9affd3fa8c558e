"""How a settings tree is written and read: each field once, with its doc, default, flag and
environment variable (`setting(...)`, dataclass field metadata); from that, the argparse flags
(grouped by section, with their docs and defaults in `--help`), the `AULA_*` fallbacks (an
environment variable < the flag), validation that names the flag, and the Markdown table of
docs/operations.md. The tree itself is server/config.py.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence

OPTION = "aula.setting"
ENV_PREFIX = "AULA_"
TRUE = ("1", "true", "yes", "on")
FALSE = ("0", "false", "no", "off")


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


class SettingsInvalid(ValueError):
    """A setting's value is not usable; the message names the flag (and the environment
    variable when the value came from there)."""


@dataclass(frozen=True)
class Option:
    doc: str
    flag: str
    env: str
    # Text (a flag's argument, an environment variable) → the value; ValueError says why not.
    parse: Callable[[str], Any]
    # The value → text, for --help and the docs.
    show: Callable[[Any], str]
    # The value → what is wrong with it (saying the value), or None.
    check: Optional[Callable[[Any], Optional[str]]] = None
    # A flag without an argument: it sets `not invert`; its env variable is a yes/no.
    switch: bool = False
    invert: bool = False
    metavar: Optional[str] = None
    # Where the command line's default is not the field's (e.g. `aula serve` runs its worker).
    cli_default: Any = UNSET
    # How the default reads in --help and the docs where the value alone does not say it.
    default_text: Optional[str] = None


def setting(default: Any, doc: str, *, flag: Optional[str] = None, env: Optional[str] = None,
            parse: Callable[[str], Any] = str, show: Optional[Callable[[Any], str]] = None,
            check: Optional[Callable[[Any], Optional[str]]] = None, choices: Optional[Sequence[str]] = None,
            switch: bool = False, invert: bool = False, metavar: Optional[str] = None,
            cli_default: Any = UNSET, default_text: Optional[str] = None,
            factory: bool = False) -> Any:
    """One field of a settings section. `flag`: default `--<name>` (a trailing `_s` dropped,
    `_` as `-`); `env`: default `AULA_<FLAG>`. `factory`: `default` is a zero-argument callable."""
    if choices is not None:
        parse = _choice(tuple(choices), parse)
    metadata = {OPTION: dict(doc=doc, flag=flag, env=env, parse=parse, show=show or show_value, check=check,
                             switch=switch, invert=invert, metavar=metavar, cli_default=cli_default,
                             default_text=default_text)}
    if factory:
        return field(default_factory=default, metadata=metadata)
    return field(default=default, metadata=metadata)


def options(section: type) -> list[tuple[dataclasses.Field[Any], Option]]:
    """The section's fields with their options (flag and env filled in)."""
    found = []
    for item in dataclasses.fields(section):
        raw = item.metadata.get(OPTION)
        if raw is None:
            continue
        flag = raw["flag"] or "--" + item.name.removesuffix("_s").replace("_", "-")
        env = raw["env"] or ENV_PREFIX + flag.lstrip("-").replace("-", "_").upper()
        found.append((item, Option(**{**raw, "flag": flag, "env": env})))
    return found


def default_of(item: dataclasses.Field[Any], option: Option, cli: bool = False) -> Any:
    if cli and option.cli_default is not UNSET:
        return option.cli_default
    if item.default is not dataclasses.MISSING:
        return item.default
    assert item.default_factory is not dataclasses.MISSING
    return item.default_factory()


def default_text(item: dataclasses.Field[Any], option: Option, cli: bool = True) -> str:
    if option.default_text is not None:
        return option.default_text
    value = default_of(item, option, cli)
    if option.switch:
        return "off" if value == option.invert else "on"
    return option.show(value)


def validate(section: Any) -> None:
    """Each field's check; a section's `__post_init__` calls it."""
    for item, option in options(type(section)):
        value = getattr(section, item.name)
        if (problem := _problem(option, value)) is not None:
            raise SettingsInvalid(f"{option.flag}: {problem}")


def _problem(option: Option, value: Any) -> Optional[str]:
    """What the field's check finds wrong with the value; a field left unset (None) has nothing."""
    return option.check(value) if option.check is not None and value is not None else None


# -- argparse and the environment ------------------------------------------------------------

def add_arguments(parser: argparse.ArgumentParser, sections: Iterable[type]) -> None:
    """One argument group per section; nothing lands in the namespace unless given (so the
    environment and the defaults are applied by `read`, which knows which is which)."""
    for section in sections:
        title, _, doc = (section.__doc__ or section.__name__).strip().partition("\n")
        group = parser.add_argument_group(title.strip().rstrip("."), " ".join(doc.split()) or None)
        for item, option in options(section):
            help_text = f"{option.doc} (default: {default_text(item, option)}; env {option.env})"
            help_text = help_text.replace("%", "%%")
            if option.switch:
                group.add_argument(option.flag, dest=item.name, action="store_const", const=not option.invert,
                                   default=argparse.SUPPRESS, help=help_text)
            else:
                group.add_argument(option.flag, dest=item.name, type=_argument_type(option),
                                   default=argparse.SUPPRESS, metavar=_metavar(option),
                                   help=help_text)


def read(section: type, args: argparse.Namespace, env: Optional[Mapping[str, str]] = None) -> Any:
    """The section from the flags given, else their environment variables, else the defaults;
    SettingsInvalid names what is wrong."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    for item, option in options(section):
        if hasattr(args, item.name):
            value, source = getattr(args, item.name), option.flag
        elif env.get(option.env, "").strip():
            raw = env[option.env].strip()
            source = f"{option.env}={raw!r} ({option.flag})"
            try:
                value = _parse_env(option, raw)
            except ValueError as exc:
                raise SettingsInvalid(f"{source}: {exc}") from exc
        else:
            value, source = default_of(item, option, cli=True), f"{option.flag} (default)"
        if (problem := _problem(option, value)) is not None:
            raise SettingsInvalid(f"{source}: {problem}")
        values[item.name] = value
    return section(**values)


def _parse_env(option: Option, raw: str) -> Any:
    if not option.switch:
        return option.parse(raw)
    if raw.lower() not in TRUE + FALSE:
        raise ValueError(f"not a yes/no value: use one of {', '.join(TRUE + FALSE)}")
    return (raw.lower() in TRUE) != option.invert


def _argument_type(option: Option) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            return option.parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from exc
    parse.__name__ = option.flag  # argparse names the type in some messages
    return parse


def _metavar(option: Option) -> str:
    return option.metavar or option.flag.lstrip("-").replace("-", "_").upper()


# -- the docs --------------------------------------------------------------------------------

def markdown(sections: Iterable[tuple[type, Sequence[str]]]) -> str:
    """One table per section: flag, environment variable, default, what it does."""
    out = []
    for section, commands in sections:
        title, _, doc = (section.__doc__ or section.__name__).strip().partition("\n")
        out.append(f"### {title.strip().rstrip('.')} ({', '.join(f'`aula {c}`' for c in commands)})\n")
        if doc.strip():
            out.append(" ".join(doc.split()) + "\n")
        out.append("| flag | env | default | meaning |\n|---|---|---|---|")
        for item, option in options(section):
            flag = option.flag if option.switch else f"{option.flag} {_metavar(option)}"
            doc = option.doc.replace("|", "\\|")
            default = default_text(item, option)
            if option.default_text is None and not option.switch:
                default = f"`{default}`"
            out.append(f"| `{flag}` | `{option.env}` | {default} | {doc} |")
        out.append("")
    return "\n".join(out)


# -- parsers and checks ----------------------------------------------------------------------

def show_value(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, tuple):
        return ",".join(show_value(v) for v in value) if value else "none"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def whole_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError("not a whole number") from None


def number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError("not a number") from None
    if not math.isfinite(value):
        raise ValueError("not a finite number")
    return value


def path(text: str) -> Path:
    return Path(text).expanduser()


def words(text: str) -> tuple[str, ...]:
    """Comma-separated, blanks dropped."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


def numbers(text: str) -> tuple[float, ...]:
    return tuple(number(part) for part in words(text))


def at_least(low: float) -> Callable[[Any], Optional[str]]:
    return lambda value: None if value >= low else f"{value:g} is less than {low:g}"


def above(low: float) -> Callable[[Any], Optional[str]]:
    return lambda value: None if value > low else f"{value:g} is not more than {low:g}"


def between(low: int, high: int) -> Callable[[Any], Optional[str]]:
    return lambda value: None if low <= value <= high else f"{value} is not from {low} to {high}"


def _choice(choices: tuple[str, ...], parse: Callable[[str], Any]) -> Callable[[str], Any]:
    def one_of(text: str) -> Any:
        if text not in choices:
            raise ValueError(f"not one of {', '.join(choices)}")
        return parse(text)
    return one_of
