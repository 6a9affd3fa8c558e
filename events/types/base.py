"""What every typed payload shares: the field markers, `to_data` / `from_data`, and the error
`from_data` raises.

A payload is a frozen dataclass whose annotations say everything about its `data` object: a
field's Python type gives its JSON type (`str`, `int`, `float`, `bool`, `Literal[...]` for an
enum, `list[...]`, a nested `Record`, `Optional[...]` for null) and `Annotated` markers add what
a Python type cannot say:

- `Ref("name")`: the field is the envelope's `$defs/name` (events/types/defs.py);
- `Limits(...)`: minimum, maximum, minLength, maxLength, pattern;
- `Doc("...")`: the field's description in the schema;
- `OMIT`: the field is left out of `data` when it is None (and the schema does not require it);
- `ANY_OF_NULL`: write the schema of an Optional as `anyOf [..., null]`.

events/schema_gen.py writes events/schemas/ from the same annotations, so the classes, the
schemas and `from_data` cannot disagree.
"""

from __future__ import annotations

import re
import types
from dataclasses import dataclass, fields
from typing import Annotated, Any, ClassVar, Literal, Optional, Self, Union, get_args, get_origin, get_type_hints

from ..event import EventType
from ..schema import EventInvalid
from .defs import DEFS

ParticipantRule = Literal["required", "optional", "none"]


class PayloadInvalid(EventInvalid):
    """`data` (or an envelope around it) that does not fit its payload class. `field` is a path
    such as `data.role` or `data.records[0].category`, as `events.schema.validate` names it."""


# -- markers ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Ref:
    name: str


@dataclass(frozen=True)
class Doc:
    text: str


@dataclass(frozen=True)
class Limits:
    min_length: Optional[int] = None
    max_length: Optional[int] = None
    pattern: Optional[str] = None
    minimum: Optional[float] = None
    maximum: Optional[float] = None

    def schema(self) -> dict[str, Any]:
        keys = {"min_length": "minLength", "max_length": "maxLength", "pattern": "pattern",
                "minimum": "minimum", "maximum": "maximum"}
        return {keys[f.name]: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}


@dataclass(frozen=True)
class Flag:
    name: str


OMIT = Flag("omit")  # None: the field is not in data at all
ANY_OF_NULL = Flag("any_of_null")

def when(field: str, condition: dict[str, Any], then: dict[str, Any], otherwise: dict[str, Any]) -> dict[str, Any]:
    """A rule between fields (for `Record.ALL_OF`): if `field` is there and fits `condition`,
    the properties in `then` must fit; otherwise those in `otherwise`."""
    return {"if": {"required": [field], "properties": {field: condition}},
            "then": {"properties": then}, "else": {"properties": otherwise}}


# The envelope's definitions, as field types.
Identity = Annotated[str, Ref("identity")]
Name = Annotated[str, Ref("name")]
DateTime = Annotated[str, Ref("date_time")]
Duration = Annotated[float, Ref("duration_s")]
Count = Annotated[int, Ref("count")]
EventId = Annotated[str, Ref("event_id")]
RoleName = Literal["instructor", "student", "observer"]
Role = Annotated[RoleName, Ref("role")]
KindName = Literal["audio", "video"]
TrackKind = Annotated[KindName, Ref("kind")]
SourceName = Literal["microphone", "camera", "screen"]
TrackSource = Annotated[SourceName, Ref("source")]
ParticipantSid = Annotated[str, Ref("participant_sid")]
TrackSid = Annotated[str, Ref("track_sid")]
PollId = Annotated[str, Ref("poll_id")]
OptionIndex = Annotated[int, Ref("option_index")]
PollOptions = Annotated[list[str], Ref("poll_options")]
CorrectIndex = Annotated[Optional[int], Ref("correct_index")]
UtteranceId = Annotated[str, Ref("utterance_id")]
SessionTime = Annotated[float, Ref("session_time_s")]


# -- shapes: an annotation, analysed once -----------------------------------------------------

@dataclass(frozen=True)
class Shape:
    kind: str  # str | int | float | bool | literal | list | record | optional
    markers: tuple[Any, ...] = ()
    values: tuple[Any, ...] = ()  # literal
    item: Optional[Shape] = None  # list, optional
    record: Optional[type[Record]] = None

    def marker(self, kind: type[Any]) -> Any:
        return next((m for m in self.markers if isinstance(m, kind)), None)

    def flagged(self, flag: Flag) -> bool:
        return flag in self.markers


@dataclass(frozen=True)
class FieldSpec:
    name: str
    shape: Shape


_SIMPLE: dict[Any, str] = {str: "str", int: "int", float: "float", bool: "bool"}


def shape_of(hint: Any) -> Shape:
    markers: tuple[Any, ...] = ()
    if get_origin(hint) is Annotated:
        hint, *extra = get_args(hint)
        markers = tuple(extra)
    origin = get_origin(hint)
    if origin is Union or origin is types.UnionType:
        others = [arg for arg in get_args(hint) if arg is not type(None)]
        if len(others) != 1 or len(get_args(hint)) != 2:
            raise TypeError(f"only Optional[X] unions are supported, not {hint}")
        return Shape("optional", markers, item=shape_of(others[0]))
    if origin is Literal:
        return Shape("literal", markers, values=get_args(hint))
    if origin is list:
        return Shape("list", markers, item=shape_of(get_args(hint)[0]))
    if hint in _SIMPLE:
        return Shape(_SIMPLE[hint], markers)
    if isinstance(hint, type) and issubclass(hint, Record):
        return Shape("record", markers, record=hint)
    raise TypeError(f"no JSON shape for {hint!r}")


_SPECS: dict[type[Record], tuple[FieldSpec, ...]] = {}  # each class's fields, analysed once


def field_specs(cls: type[Record]) -> tuple[FieldSpec, ...]:
    specs = _SPECS.get(cls)
    if specs is None:
        hints = get_type_hints(cls, include_extras=True)
        specs = _SPECS[cls] = tuple(FieldSpec(f.name, shape_of(hints[f.name])) for f in fields(cls))
    return specs


# -- records and payloads --------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class Record:
    """An object inside `data` (a guardian, a poll answer, an attendance record...)."""

    # Rules between fields that the field types cannot say, as JSON Schema `allOf` entries.
    ALL_OF: ClassVar[tuple[dict[str, Any], ...]] = ()

    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for spec in field_specs(type(self)):
            value = getattr(self, spec.name)
            if value is None and spec.shape.flagged(OMIT):
                continue
            data[spec.name] = _encode(spec.shape, value)
        return data

    @classmethod
    def from_data(cls, data: Any) -> Self:
        """Parse `data` (as JSON gives it); PayloadInvalid names the first field that is off."""
        return cls._decode(data, "data", cls._label())

    @classmethod
    def _label(cls) -> str:
        return cls.__name__

    @classmethod
    def _decode(cls, data: Any, path: str, label: str) -> Self:
        if not isinstance(data, dict):
            raise PayloadInvalid(label, path, f"expected an object, got {_json_kind(data)}")
        specs = field_specs(cls)
        known = {spec.name for spec in specs}
        extra = sorted(name for name in data if name not in known)
        if extra:
            raise PayloadInvalid(label, f"{path}.{extra[0]}", "is not allowed here")
        values: dict[str, Any] = {}
        for spec in specs:
            where = f"{path}.{spec.name}"
            if spec.name not in data:
                if spec.shape.flagged(OMIT):
                    values[spec.name] = None
                    continue
                raise PayloadInvalid(label, where, "is required")
            values[spec.name] = _decode(spec.shape, data[spec.name], where, label)
        return cls(**values)


@dataclass(frozen=True, kw_only=True)
class Payload(Record):
    """The `data` of one event type. TYPE and VERSION are what the envelope carries."""

    TYPE: ClassVar[EventType]
    VERSION: ClassVar[int] = 1
    PARTICIPANT: ClassVar[ParticipantRule] = "required"

    @classmethod
    def _label(cls) -> str:
        return cls.TYPE.value

    @classmethod
    def description(cls) -> str:
        return " ".join((cls.__doc__ or "").split())


# -- encoding and decoding values ------------------------------------------------------------

def _encode(shape: Shape, value: Any) -> Any:
    if value is None:
        return None
    if shape.kind == "optional":
        assert shape.item is not None
        return _encode(shape.item, value)
    if shape.kind == "record":
        return value.to_data()
    if shape.kind == "list":
        assert shape.item is not None
        return [_encode(shape.item, item) for item in value]
    return value


_JSON_KINDS: dict[str, tuple[type, ...]] = {"str": (str,), "int": (int,), "float": (int, float), "bool": (bool,)}
_KIND_WORDS = {"str": "a string", "int": "an integer", "float": "a number", "bool": "true or false"}


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    names = {str: "a string", int: "an integer", float: "a number", list: "an array", dict: "an object"}
    return names.get(type(value), type(value).__name__)


def _decode(shape: Shape, value: Any, path: str, label: str) -> Any:
    if shape.kind == "optional":
        assert shape.item is not None
        if value is None:
            return None
        value = _decode(shape.item, value, path, label)
    elif value is None:
        raise PayloadInvalid(label, path, "may not be null")
    elif shape.kind == "record":
        assert shape.record is not None
        return shape.record._decode(value, path, label)
    elif shape.kind == "list":
        assert shape.item is not None
        if not isinstance(value, list):
            raise PayloadInvalid(label, path, f"expected an array, got {_json_kind(value)}")
        item = shape.item
        value = [_decode(item, entry, f"{path}[{index}]", label) for index, entry in enumerate(value)]
    elif shape.kind == "literal":
        if not any(value == allowed and type(value) is type(allowed) for allowed in shape.values):
            allowed = ", ".join(repr(v) for v in shape.values)
            raise PayloadInvalid(label, path, f"{value!r} is not one of {allowed}")
    else:
        accepted = _JSON_KINDS[shape.kind]
        if not isinstance(value, accepted) or (isinstance(value, bool) and shape.kind != "bool"):
            raise PayloadInvalid(label, path, f"expected {_KIND_WORDS[shape.kind]}, got {_json_kind(value)}")
    _check_limits(shape, value, path, label)
    return value


def _check_limits(shape: Shape, value: Any, path: str, label: str) -> None:
    """The constraints of the field's Ref'd definition and of its Limits marker."""
    checks: dict[str, Any] = {}
    ref = shape.marker(Ref)
    if ref is not None:
        checks.update(DEFS[ref.name])
    limits = shape.marker(Limits)
    if limits is not None:
        checks.update(limits.schema())
    problem = _limit_problem(checks, value)
    if problem is not None:
        raise PayloadInvalid(label, path, problem)


def def_problem(name: str, value: Any) -> Optional[str]:
    """What is wrong with `value` as the envelope's `$defs/<name>` (None: nothing)."""
    return _limit_problem(DEFS[name], value)


def _limit_problem(checks: dict[str, Any], value: Any) -> Optional[str]:
    if value is None:
        return None
    for branch in checks.get("anyOf", []):  # a nullable definition: its non-null branch
        if branch != {"type": "null"}:
            return _limit_problem(branch, value)
    if "enum" in checks and value not in checks["enum"]:
        return f"{value!r} is not one of {checks['enum']}"
    if isinstance(value, str):
        if "minLength" in checks and len(value) < checks["minLength"]:
            return f"{value!r} is shorter than {checks['minLength']} characters"
        if "maxLength" in checks and len(value) > checks["maxLength"]:
            return f"is longer than {checks['maxLength']} characters"
        if "pattern" in checks and not re.search(checks["pattern"], value):
            return f"{value!r} does not match {checks['pattern']!r}"
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in checks and value < checks["minimum"]:
            return f"{value!r} is less than the minimum of {checks['minimum']}"
        if "maximum" in checks and value > checks["maximum"]:
            return f"{value!r} is greater than the maximum of {checks['maximum']}"
    elif isinstance(value, list):
        if "minItems" in checks and len(value) < checks["minItems"]:
            return f"has {len(value)} items, fewer than {checks['minItems']}"
        if "items" in checks:
            for index, item in enumerate(value):
                problem = _limit_problem(checks["items"], item)
                if problem is not None:
                    return f"item {index}: {problem}"
    return None
