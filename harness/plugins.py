"""One registry utility for every extension point, fed by built-ins and entry points.

Each extension point is a :class:`PluginRegistry`: checks (``harness.checks``), report
renderers (``harness.reporters``), model-registry backends (``harness.registries``) and
notifiers (``harness.notifiers``). Third-party packages add to them through the entry
point group of the same name, for example in their ``pyproject.toml``::

    [project.entry-points."harness.checks"]
    no-swearing = "acme_checks:no_swearing"

Entry points are found on first use and imported only when their name is asked for,
so ``harness --help`` never imports a plugin. Everything is validated when registered:
a plugin of the wrong type is refused with a message naming it. Tests register and
unregister (or use :meth:`PluginRegistry.registered`) so that no global state is left
behind.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from importlib import metadata
from typing import Any, Generic, TypeVar

from .errors import HarnessError, InputError

T = TypeVar("T")

#: the entry point groups the harness reads; the providers group comes with model querying
GROUPS = ("harness.checks", "harness.reporters", "harness.registries", "harness.notifiers")


class PluginError(HarnessError):
    """A plugin could not be loaded or is not what its extension point expects."""


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
        self._entry_points: dict[str, metadata.EntryPoint] | None = None
        self._loaded_builtins = False

    def __repr__(self) -> str:
        return f"PluginRegistry({self.kind!r}, group={self.group!r})"

    # -- discovery -----------------------------------------------------------------------

    def _ensure_builtins(self) -> None:
        if self._loaded_builtins:
            return
        self._loaded_builtins = True
        if self._builtins is not None:
            for name, obj in self._builtins():
                self._items.setdefault(name, self._checked(name, obj, "built-in"))

    def _discover(self) -> dict[str, metadata.EntryPoint]:
        if self._entry_points is None:
            self._entry_points = {ep.name: ep for ep in metadata.entry_points(group=self.group)}
        return self._entry_points

    def _checked(self, name: str, obj: Any, origin: str) -> T:
        try:
            return self._validate(name, obj)
        except (TypeError, ValueError) as exc:
            raise PluginError(f"{self.kind} {name!r} ({origin}) is not a valid {self.kind}: {exc}") from None

    def _load_entry_point(self, name: str) -> T | None:
        entry = self._discover().get(name)
        if entry is None:
            return None
        origin = f"entry point {entry.value!r} of group {self.group}"
        try:
            obj = entry.load()
        except Exception as exc:  # a broken plugin must name itself, not crash the gate anonymously
            raise PluginError(f"cannot load {self.kind} {name!r} from {origin}: {type(exc).__name__}: {exc}") \
                from None
        item = self._checked(name, obj, origin)
        self._items[name] = item
        return item

    # -- the registry ---------------------------------------------------------------------

    def refresh(self) -> None:
        """Look for entry points again (after installing a plugin in a running process)."""
        self._entry_points = None

    def register(self, name: str, obj: Any, *, replace: bool = False) -> T:
        """Add ``obj`` under ``name`` after validating it; a second registration of a name is refused."""
        self._ensure_builtins()
        item = self._checked(name, obj, "registered")
        if name in self._items and not replace and self._items[name] is not item:
            raise PluginError(f"{self.kind} {name!r} is already registered")
        self._items[name] = item
        return item

    def unregister(self, name: str) -> None:
        """Remove ``name`` (built-ins come back on the next lookup)."""
        self._items.pop(name, None)
        if self._builtins is not None and name in dict(self._builtins()):
            self._loaded_builtins = False

    @contextlib.contextmanager
    def registered(self, name: str, obj: Any) -> Iterator[T]:
        """Register ``obj`` for the duration of a ``with`` block, then restore what was there."""
        self._ensure_builtins()
        before = self._items.get(name)
        item = self.register(name, obj, replace=True)
        try:
            yield item
        finally:
            if before is None:
                self._items.pop(name, None)
            else:
                self._items[name] = before

    def get(self, name: str) -> T:
        """The plugin called ``name``; ``InputError`` listing the known names otherwise."""
        self._ensure_builtins()
        item = self._items.get(name)
        if item is None:
            item = self._load_entry_point(name)
        if item is None:
            raise InputError(f"unknown {self.kind} {name!r}; expected one of: {', '.join(self.names())}")
        return item

    def __contains__(self, name: object) -> bool:
        self._ensure_builtins()
        return name in self._items or name in self._discover()

    def names(self) -> list[str]:
        """Every known name, built-in, registered or from an entry point, sorted."""
        self._ensure_builtins()
        return sorted(set(self._items) | set(self._discover()))

    def items(self) -> dict[str, T]:
        """Every plugin, loading the entry points not loaded yet."""
        return {name: self.get(name) for name in self.names()}
