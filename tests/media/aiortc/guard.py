"""What the guard tests of media/aiortc share: each module there copies, wraps or replaces
parts of aiortc 1.x (and aioice) and reads their private attributes, so each has a test here
that fails, naming the module to re-read, as soon as the aiortc it was written against is not
the one installed: another version, a changed source of anything it relies on (its sha256 as
`inspect.getsource` gives it, recorded when the module was last checked), or a private
attribute gone.

What each module relies on is recorded in recorded.json: the packages it was written against
and, by dotted name, the sha256 of each source. After re-reading a module against the new
aiortc (and changing it where needed), record anew: `python -m tests.media.aiortc.guard
<module>` rewrites its hashes (edit its list of names in recorded.json first if what it relies
on changed).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import inspect
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, Iterable

# The versions every module of media/aiortc was written against (pyproject.toml pins them).
WRITTEN_AGAINST = {"aiortc": "1.16.0", "aioice": "0.13.0"}
RECORDED = Path(__file__).with_name("recorded.json")


def _recheck(module: str) -> str:
    return (f"re-read media/aiortc/{module}.py against it (its docstring names what it relies "
            f"on), then record anew: `python -m tests.media.aiortc.guard {module}` (what it "
            f"relies on is listed in tests/media/aiortc/recorded.json and test_{module}.py)")


def resolve(dotted: str) -> Any:
    """`aiortc.rtcrtpreceiver.RTCRtpReceiver._run_rtcp` → that function: the longest
    importable module prefix, then attributes."""
    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for name in parts[split:]:
            obj = getattr(obj, name)
        return obj
    raise ImportError(dotted)


def source_sha256(obj: Any) -> str:
    function = getattr(obj, "__func__", obj)  # a classmethod's function
    return hashlib.sha256(inspect.getsource(function).encode()).hexdigest()


def check_versions(module: str, packages: Iterable[str]) -> None:
    for package in packages:
        installed = importlib.metadata.version(package)
        assert installed == WRITTEN_AGAINST[package], (
            f"media/aiortc/{module}.py was written against {package} "
            f"{WRITTEN_AGAINST[package]}, {installed} is installed: {_recheck(module)}")


def check_sources(module: str, recorded: dict[str, str]) -> None:
    """`recorded`: dotted name → the sha256 of its source when the module was last checked.
    A name may be one of the module's own references to aiortc's original (`media.aiortc.x.
    AIORTC_...`), for what the module replaced in aiortc itself."""
    changed = []
    for name, expected in recorded.items():
        try:
            actual = source_sha256(resolve(name))
        except (ImportError, AttributeError, OSError, TypeError) as exc:
            changed.append(f"{name}: gone ({exc!r})")
            continue
        if actual != expected:
            changed.append(f"{name}: its source changed (sha256 {actual}, recorded {expected})")
    assert not changed, (f"aiortc changed under media/aiortc/{module}.py:\n  "
                         + "\n  ".join(changed) + f"\n{_recheck(module)}")


def check_recorded(module: str) -> None:
    """The installed versions and sources are those recorded for `module`."""
    recorded = json.loads(RECORDED.read_text())[module]
    check_versions(module, recorded["packages"])
    check_sources(module, recorded["sources"])


def check_attributes(module: str, owner: Any, names: Iterable[str]) -> None:
    """Each of `names` (private attributes the module reads or writes, name-mangled ones under
    their mangled names) is on `owner`, a real aiortc or aioice object."""
    missing = [name for name in names if not hasattr(owner, name)]
    label = owner.__name__ if isinstance(owner, (type, ModuleType)) else type(owner).__qualname__
    assert not missing, (f"{label} has no {', '.join(missing)} any more, "
                         f"which media/aiortc/{module}.py uses: {_recheck(module)}")


def check_annotated(module: str, cls: type, names: Iterable[str]) -> None:
    """Attributes a class only declares (`name: type`), set on its instances later."""
    missing = [name for name in names if name not in getattr(cls, "__annotations__", {})]
    assert not missing, (f"{cls.__qualname__} no longer declares {', '.join(missing)}, which "
                         f"media/aiortc/{module}.py uses: {_recheck(module)}")


def check_assigned(module: str, function: str, names: Iterable[str]) -> None:
    """Private attributes aiortc only sets later (in `function`, not its __init__): each is
    still assigned there (`self.<name> =`, the unmangled name as written in aiortc)."""
    source = inspect.getsource(resolve(function))
    missing = [name for name in names if f"self.{name} =" not in source
               and f"self.{name}: " not in source]
    assert not missing, (f"{function} no longer sets {', '.join(missing)}, which "
                         f"media/aiortc/{module}.py uses: {_recheck(module)}")


def record(modules: Iterable[str]) -> None:
    recorded = json.loads(RECORDED.read_text())
    for module in modules:
        sources = recorded[module]["sources"]
        for name in sources:
            sources[name] = source_sha256(resolve(name))
    RECORDED.write_text(json.dumps(recorded, indent=2) + "\n")


if __name__ == "__main__":
    record(sys.argv[1:])
