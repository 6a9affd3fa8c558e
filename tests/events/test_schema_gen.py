"""events/schemas/*.json are written from the payload classes (python -m events.schema_gen)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from events import schema_gen

SCHEMAS = Path(schema_gen.__file__).parent / "schemas"


def test_schema_files_match_the_payload_classes():
    """Regenerates every schema in memory; a difference means a class changed without its
    schema (or a schema was edited by hand)."""
    generated = schema_gen.generate()
    on_disk = {path.name: path.read_text(encoding="utf-8") for path in SCHEMAS.glob("*.json")}
    drifted = sorted(name for name in generated.keys() | on_disk.keys()
                     if generated.get(name) != on_disk.get(name))
    assert not drifted, (f"events/schemas/ has drifted from events/types/ ({', '.join(drifted)}): "
                         f"run `{schema_gen.COMMAND}` and commit the files")


def test_every_generated_schema_is_valid_json_with_its_id():
    for name, text in schema_gen.generate().items():
        schema = json.loads(text)
        expected = "urn:aula:events:" + name.removesuffix(".json")
        assert schema["$id"] == expected, name


def test_check_and_write_on_a_copy(tmp_path, capsys):
    folder = tmp_path / "schemas"
    shutil.copytree(SCHEMAS, folder)
    assert schema_gen.main(["--check", "--folder", str(folder)]) == 0
    edited = folder / "participant.joined.json"
    edited.write_text(edited.read_text(encoding="utf-8").replace('"rejoin"', '"rejoined"'), encoding="utf-8")
    (folder / "participant.waved.json").write_text("{}\n", encoding="utf-8")
    (folder / "session.ended.json").unlink()
    assert schema_gen.main(["--check", "--folder", str(folder)]) == 1
    err = capsys.readouterr().err
    for name in ("participant.joined.json", "participant.waved.json", "session.ended.json"):
        assert name in err
    assert schema_gen.COMMAND in err
    assert schema_gen.main(["--folder", str(folder)]) == 0
    assert schema_gen.drift(folder) == []
    assert not (folder / "participant.waved.json").exists()
    for path in SCHEMAS.glob("*.json"):
        assert (folder / path.name).read_text(encoding="utf-8") == path.read_text(encoding="utf-8")
