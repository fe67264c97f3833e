"""One registry utility for every extension point, fed by built-ins and entry points.

Each extension point is a :class:`PluginRegistry`: checks (``harness.checks``), report
renderers (``harness.reporters``), model-registry backends (``harness.registries``) and
notifiers (``harness.notifiers``). Third-party packages add to them through the entry
point group of the same name, for example in their ``pyproject.toml``::

    [project.entry-points."harness.checks"]
    no-swearing = "acme_checks:no_swearing"

Entry points are found on first use and imported when their name is asked for (or when
every plugin is listed, as composing the policy schema does). Everything is validated
when registered: a plugin of the wrong type is refused with a message naming it. A
plugin that cannot be loaded, two distributions claiming one name, or an entry point
shadowing a built-in is kept aside as *broken*: it fails only the rules that use it,
never the run as a whole. Tests register and unregister (or use
:meth:`PluginRegistry.registered`) so that no global state is left behind. A registry is
safe to use from several threads.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Iterator
from importlib import metadata
from typing import Any, Generic, TypeVar

from .errors import EnvError, InputError

T = TypeVar("T")

#: the entry point groups the harness reads; the providers group comes with model querying
GROUPS = ("harness.checks", "harness.reporters", "harness.registries", "harness.notifiers")


class PluginError(EnvError):
    """A plugin could not be loaded or is not what its extension point expects (an installation problem)."""


class PluginRegistry(Generic[T]):
    """Named plugins of one kind: built-ins, entry points of ``group``, and explicit registrations.

    ``validate(name, obj)`` turns what was registered into a ``T`` or raises
    ``TypeError``/``ValueError`` saying what is wrong; ``builtins()`` yields the
    ``(name, object)`` pairs shipped with the harness, imported on first use.
    """

    def __init__(self, kind: str, group: str, *, validate: Callable[[str, Any], T],
                 builtins: Callable[[], Iterable[tuple[str, Any]]] | None = None) -> None:
        self.kind = kind
        self.group = group
        self._validate = validate
        self._builtins = builtins
        self._items: dict[str, T] = {}
        self._builtin_names: frozenset[str] | None = None
        self._entry_points: dict[str, metadata.EntryPoint] | None = None
        self._broken: dict[str, PluginError] = {}
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"PluginRegistry({self.kind!r}, group={self.group!r})"

    # -- discovery (always under the lock) -------------------------------------------------

    def _ensure_builtins(self) -> None:
        if self._builtin_names is not None:
            return
        loaded = {name: self._checked(name, obj, "built-in") for name, obj in (self._builtins or list)()}
        for name, item in loaded.items():
            self._items.setdefault(name, item)
        self._builtin_names = frozenset(loaded)  # set last: a failure above leaves the registry to retry

    def _discover(self) -> dict[str, metadata.EntryPoint]:
        if self._entry_points is None:
            self._ensure_builtins()
            found: dict[str, metadata.EntryPoint] = {}
            for entry in metadata.entry_points(group=self.group):
                where = f"entry point {entry.value!r} of group {self.group}"
                if entry.name in (self._builtin_names or ()):
                    self._broken[entry.name] = PluginError(f"{self.kind} {entry.name!r} ({where}) has the name of a"
                                                           " built-in, which always wins: rename the plugin")
                elif entry.name in found and found[entry.name].value != entry.value:
                    self._broken[entry.name] = PluginError(
                        f"{self.kind} {entry.name!r} is claimed by two installed entry points"
                        f" ({found[entry.name].value!r} and {entry.value!r}): uninstall one")
                else:
                    found[entry.name] = entry
            for name in self._broken:
                found.pop(name, None)
            self._entry_points = found
        return self._entry_points

    def _checked(self, name: str, obj: Any, origin: str) -> T:
        try:
            return self._validate(name, obj)
        except (TypeError, ValueError) as exc:
            raise PluginError(f"{self.kind} {name!r} ({origin}) is not a valid {self.kind}: {exc}") from exc

    def _load_entry_point(self, name: str) -> T | None:
        entry = self._discover().get(name)
        if entry is None:
            return None
        origin = f"entry point {entry.value!r} of group {self.group}"
        try:
            obj = entry.load()
        except Exception as exc:  # a broken plugin must name itself, not crash the gate anonymously
            self._broken[name] = PluginError(f"cannot load {self.kind} {name!r} from {origin}:"
                                             f" {type(exc).__name__}: {exc}")
            self._broken[name].__cause__ = exc
            return None
        try:
            item = self._checked(name, obj, origin)
        except PluginError as exc:
            self._broken[name] = exc
            return None
        self._items[name] = item
        return item

    # -- the registry ---------------------------------------------------------------------

    def refresh(self) -> None:
        """Look for entry points again (after installing a plugin in a running process)."""
        with self._lock:
            for name in list(self._discover()):
                if name not in (self._builtin_names or ()):
                    self._items.pop(name, None)
            self._entry_points = None
            self._broken.clear()

    def register(self, name: str, obj: Any, *, replace: bool = False) -> T:
        """Add ``obj`` under ``name`` after validating it; a second registration of a name is refused."""
        item = self._checked(name, obj, "registered")
        with self._lock:
            self._ensure_builtins()
            if name in self._items and not replace and self._items[name] is not item:
                raise PluginError(f"{self.kind} {name!r} is already registered")
            self._items[name] = item
            self._broken.pop(name, None)
        return item

    def unregister(self, name: str) -> None:
        """Remove ``name``; a built-in of that name comes back."""
        with self._lock:
            self._items.pop(name, None)
            if name in (self._builtin_names or ()):
                self._builtin_names = None  # reload the built-ins on next use

    @contextlib.contextmanager
    def registered(self, name: str, obj: Any) -> Iterator[T]:
        """Register ``obj`` for the duration of a ``with`` block, then restore what was there."""
        with self._lock:
            self._ensure_builtins()
            before = self._items.get(name)
            item = self.register(name, obj, replace=True)
        try:
            yield item
        finally:
            with self._lock:
                if before is None:
                    self._items.pop(name, None)
                else:
                    self._items[name] = before

    def get(self, name: str) -> T:
        """The plugin called ``name``: ``InputError`` listing the known names, ``PluginError`` if it is broken."""
        with self._lock:
            self._ensure_builtins()
            item = self._items.get(name)
            if item is None:
                item = self._load_entry_point(name)
            if item is None and name in self._broken:
                raise self._broken[name]
            if item is None:
                raise InputError(f"unknown {self.kind} {name!r}; expected one of: {', '.join(self.names())}")
            return item

    def __contains__(self, name: object) -> bool:
        with self._lock:
            self._ensure_builtins()
            return name in self._items or name in self._discover()

    def names(self) -> list[str]:
        """Every usable name, built-in, registered or from an entry point, sorted."""
        with self._lock:
            self._ensure_builtins()
            return sorted(set(self._items) | set(self._discover()))

    def items(self) -> dict[str, T]:
        """Every plugin that loads; those that do not are kept aside (see :meth:`broken`)."""
        with self._lock:
            for name in self.names():
                if name not in self._items:
                    self._load_entry_point(name)
            return dict(self._items)

    def broken(self) -> dict[str, PluginError]:
        """The plugins that could not be loaded, each with the error saying why."""
        with self._lock:
            self._discover()
            return dict(self._broken)
