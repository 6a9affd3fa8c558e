"""Write events/schemas/*.json from the payload classes in events/types/.

    python -m events.schema_gen           # rewrite the files
    python -m events.schema_gen --check   # exit 1, naming the files, if they differ

The schemas are draft 2020-12: `envelope.json` (the envelope and the shared `$defs`, from
events/types/defs.py) and one `<type>.json` per payload class (its version, whether it has a
participant, its `data`). tests/events/test_schema_gen.py fails when the files drift.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Optional, Sequence

from .event import EventType
from .types import PAYLOADS, SIGNALS, Payload, Record, Signal
from .types.base import ANY_OF_NULL, OMIT, Doc, Limits, Ref, Shape, field_specs
from .types.defs import DEFS, ENVELOPE_ID, nullable, ref

DRAFT = "https://json-schema.org/draft/2020-12/schema"
FOLDER = Path(__file__).parent / "schemas"
COMMAND = "python -m events.schema_gen"
_TYPES = {"str": "string", "int": "integer", "float": "number", "bool": "boolean"}


def field_schema(shape: Shape) -> dict[str, Any]:
    """The JSON Schema of one field, from its annotation."""
    schema: dict[str, Any]
    marked = shape.marker(Ref)
    if shape.kind == "optional":
        assert shape.item is not None
        inner = field_schema(shape.item)
        inner_ref = shape.item.marker(Ref)
        if marked is not None and nullable(marked.name):
            schema = {"$ref": ref(marked.name)}
        elif shape.flagged(OMIT):
            schema = inner  # absent rather than null
        elif shape.flagged(ANY_OF_NULL) or inner_ref is not None or not isinstance(inner.get("type"), str) \
                or shape.item.kind in ("record", "list"):
            schema = {"anyOf": [inner, {"type": "null"}]}
        else:
            schema = {"type": [inner["type"], "null"], **{k: v for k, v in inner.items() if k != "type"}}
    elif marked is not None:
        schema = {"$ref": ref(marked.name)}
    elif shape.kind == "literal":
        schema = {"const": shape.values[0]} if len(shape.values) == 1 else {"enum": list(shape.values)}
    elif shape.kind == "list":
        assert shape.item is not None
        schema = {"type": "array", "items": field_schema(shape.item)}
    elif shape.kind == "record":
        assert shape.record is not None
        schema = object_schema(shape.record)
    else:
        schema = {"type": _TYPES[shape.kind]}
    limits: Optional[Limits] = shape.marker(Limits)
    if limits is not None and "$ref" not in schema:
        schema.update(limits.schema())
    doc: Optional[Doc] = shape.marker(Doc)
    if doc is not None:
        schema["description"] = doc.text
    return schema


def _properties(cls: type[Record]) -> tuple[dict[str, Any], list[str]]:
    properties: dict[str, Any] = {}
    required: list[str] = []
    for spec in field_specs(cls):
        properties[spec.name] = field_schema(spec.shape)
        if not spec.shape.flagged(OMIT):
            required.append(spec.name)
    return properties, required


def object_schema(cls: type[Record]) -> dict[str, Any]:
    properties, required = _properties(cls)
    schema: dict[str, Any] = {"type": "object", "properties": properties, "required": required,
                              "additionalProperties": False}
    if cls.ALL_OF:
        schema["allOf"] = list(cls.ALL_OF)
    return schema


def signal_schema() -> dict[str, Any]:
    """engagement.signal's data: `signal` names the class, and each class allows only its fields."""
    branches = []
    for name, cls in SIGNALS.items():
        properties, required = _properties(cls)
        branches.append({
            "if": {"required": ["signal"], "properties": {"signal": {"const": name}}},
            "then": {"properties": {"signal": True, **properties}, "required": required,
                     "additionalProperties": False},
        })
    return {"type": "object", "required": ["signal"], "properties": {"signal": {"enum": list(SIGNALS)}},
            "allOf": branches}


def payload_schema(cls: type[Payload]) -> dict[str, Any]:
    event_type = cls.TYPE.value
    participant: dict[str, Any] = {"$ref": ref("identity")}
    if cls.PARTICIPANT == "none":
        participant = {"not": {}, "description": "this type is about no participant"}
    schema: dict[str, Any] = {
        "$schema": DRAFT,
        "$id": f"urn:aula:events:{event_type}",
        "title": event_type,
        "description": cls.description(),
        "allOf": [{"$ref": ENVELOPE_ID}],
        "properties": {
            "type": {"const": event_type},
            "version": {"const": cls.VERSION},
            "participant": participant,
            "data": signal_schema() if cls is Signal else object_schema(cls),
        },
    }
    if cls.PARTICIPANT == "required":
        schema["required"] = ["participant"]
    return schema


def envelope_schema() -> dict[str, Any]:
    return {
        "$schema": DRAFT,
        "$id": ENVELOPE_ID,
        "title": "Aula event envelope",
        "description": "Every event on the aula:events streams (docs/events.md). Each type's schema, "
                       "urn:aula:events:<type>, adds its own data.",
        "type": "object",
        "properties": {
            "id": {"$ref": ref("event_id")},
            "type": {"enum": [event_type.value for event_type in EventType]},
            "version": {"type": "integer", "minimum": 1},
            "ts": {"$ref": ref("timestamp")},
            "session_id": {"$ref": ref("session_id")},
            "participant": {"$ref": ref("identity")},
            "data": {"type": "object"},
        },
        "required": ["id", "type", "version", "ts", "session_id", "data"],
        "additionalProperties": False,
        "$defs": DEFS,
    }


def generate() -> dict[str, str]:
    """Every schema file's name and text, as the classes say they should be."""
    schemas = {"envelope.json": envelope_schema()}
    for event_type, cls in PAYLOADS.items():
        schemas[f"{event_type.value}.json"] = payload_schema(cls)
    return {name: json.dumps(schema, indent=2) + "\n" for name, schema in schemas.items()}


def drift(folder: Path = FOLDER) -> list[str]:
    """The files in `folder` that differ from what `generate` writes (missing, changed or extra)."""
    wanted = generate()
    present = {path.name for path in folder.glob("*.json")}
    changed = [name for name, text in wanted.items()
               if name not in present or (folder / name).read_text(encoding="utf-8") != text]
    return sorted(changed + [name for name in present if name not in wanted])


def write(folder: Path = FOLDER) -> list[str]:
    """Rewrite the schema files; returns the names of those that changed."""
    changed = drift(folder)
    wanted = generate()
    for name in changed:
        if name in wanted:
            (folder / name).write_text(wanted[name], encoding="utf-8")
        else:
            (folder / name).unlink()
    return changed


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="only say which files differ (exit 1 if any)")
    parser.add_argument("--folder", type=Path, default=FOLDER, help="where the schemas are (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.check:
        changed = drift(args.folder)
        for name in changed:
            print(f"{name} differs from the classes in events/types/: run {COMMAND}", file=sys.stderr)
        return 1 if changed else 0
    for name in write(args.folder):
        print(f"{'wrote' if (args.folder / name).exists() else 'removed'} {args.folder / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
