"""What every plug-in kind shares (speech engines, summarisers, notifiers), kept in the lowest layer
so each kind's package can use it without importing a peer: the error raised at a plug-in's
boundary, and a registry of plug-ins by name.

A registry holds the built-ins and, read once when a name is first looked up, the plug-ins other
distributions declare in the registry's entry point group, e.g. in a plug-in's pyproject.toml:

    [project.entry-points."aula.stt"]
    my-engine = "my_package.stt:create"

A name registered in code (`Registry.register`) wins over an entry point of the same name.
Each kind's base class (transcription/engine.py, summaries/summariser.py, workflows/notify.py)
keeps a `Meter`: calls, errors, busy time for its `metrics()`, and a close that happens once.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from importlib.metadata import entry_points
from typing import Callable, Generic, Iterator, Optional, TypeVar

Factory = TypeVar("Factory", bound=Callable[..., object])


class APIError(Exception):
    """A plug-in's call failed at its boundary (a remote service, a model, a closed engine).
    `retryable`: whether the same call may succeed later (a timeout, a 503), or will fail again
    the same way (a 400, a missing model) and should not be retried."""

    def __init__(self, message: str, retryable: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable


class Meter:
    """One plug-in's counts, thread-safe; `call()` wraps each call at the boundary: it refuses
    calls after `close_once()`, and turns a failure that is not an APIError into a retryable one."""

    def __init__(self, name: str, counts: tuple[str, ...] = ("calls",), totals: tuple[str, ...] = ()) -> None:
        """`counts`: the kinds of call counted (from 0); `totals`: running sums `add` keeps."""
        self.name = name
        self.closed = False
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {what: 0 for what in (*counts, "errors")}
        self._totals: dict[str, float] = {what: 0.0 for what in (*totals, "busy_s")}

    @contextmanager
    def call(self, what: str = "calls") -> Iterator[None]:
        if self.closed:
            raise APIError(f"{self.name}: closed", retryable=False)
        started = time.monotonic()
        outcome = what
        try:
            yield
        except APIError:
            outcome = "errors"
            raise
        except Exception as exc:
            outcome = "errors"
            raise APIError(f"{self.name}: {exc}", retryable=True) from exc
        finally:
            with self._lock:
                self._counts[outcome] = self._counts.get(outcome, 0) + 1
                self._totals["busy_s"] += time.monotonic() - started

    def add(self, what: str, amount: float) -> None:
        """A running total of the plug-in's own (audio seconds, sentences...)."""
        with self._lock:
            self._totals[what] = self._totals.get(what, 0.0) + amount

    def close_once(self) -> bool:
        """True the first time only: the caller then releases what the plug-in holds."""
        with self._lock:
            first, self.closed = not self.closed, True
        return first

    def snapshot(self) -> dict[str, object]:
        with self._lock:
            totals = {what: round(value, 3) for what, value in self._totals.items()}
            return {"name": self.name, **self._counts, **totals, "closed": self.closed}


class ThreadedPlugin:
    """The lifecycle of a plug-in whose calls run on threads (a speech engine, a summariser):
    `close()` releases it once however often it is called, `metrics()` is its Meter's."""

    _meter: Meter

    def close(self) -> None:
        if self._meter.close_once():
            self._close()

    def _close(self) -> None:
        """Release what the plug-in holds (a model, a connection); called once."""

    @property
    def closed(self) -> bool:
        return self._meter.closed

    def metrics(self) -> dict[str, object]:
        return self._meter.snapshot()


class UnknownPlugin(LookupError):
    """A name no built-in and no installed entry point answers to."""

    def __init__(self, kind: str, name: str, known: list[str], group: str) -> None:
        super().__init__(f"unknown {kind} {name!r}: known ones are {', '.join(known) or '(none)'} "
                         f"(a package adds one with the entry point group {group!r})")
        self.name = name
        self.known = known


class Registry(Generic[Factory]):
    """Name → factory for one kind of plug-in; `group` is its entry point group."""

    def __init__(self, kind: str, group: str) -> None:
        self.kind = kind
        self.group = group
        self._factories: dict[str, Factory] = {}
        self._entry_points: Optional[dict[str, Callable[[], Factory]]] = None

    def register(self, name: str, factory: Factory) -> Factory:
        """Add (or replace) a plug-in; returns the factory, so it works as a decorator's body."""
        self._factories[name] = factory
        return factory

    def unregister(self, name: str) -> None:
        self._factories.pop(name, None)

    def names(self) -> list[str]:
        return sorted({*self._factories, *self._installed()})

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self.names()

    def get(self, name: str) -> Factory:
        factory = self._factories.get(name)
        if factory is not None:
            return factory
        load = self._installed().get(name)
        if load is None:
            raise UnknownPlugin(self.kind, name, self.names(), self.group)
        factory = load()
        if not callable(factory):
            raise TypeError(f"entry point {name!r} in {self.group!r} is not callable: {factory!r}")
        self._factories[name] = factory
        return factory

    def _installed(self) -> dict[str, Callable[[], Factory]]:
        if self._entry_points is None:
            self._entry_points = {point.name: point.load for point in entry_points(group=self.group)}
        return self._entry_points
