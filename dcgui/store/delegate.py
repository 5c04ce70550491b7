"""Typed delegation for ``SessionStore``: one line per method that one of its parts owns.

``record_epoch = delegate("epoch_data", EpochData.record)`` makes ``store.record_epoch(ev)`` call
``store.epoch_data.record(ev)``. The part's function is named, not a string, so mypy checks every
call against the part's own signature (parameters less ``self``, return type) and a rename in a
part fails type-checking here instead of at run time; ``delegate_property`` does the same for a
read-only property (or plain attribute) of a part.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, overload

P = ParamSpec("P")
R = TypeVar("R")


def _name(member: Any) -> str:
    """A function's name, or a property's (its getter's)."""
    return str(getattr(member, "fget", member).__name__)


class _PartMember:
    """Reads ``getattr(getattr(obj, part), name)`` on an instance, itself on the class."""

    def __init__(self, part: str, member: Any) -> None:
        self.part = part
        self.name = _name(member)
        self.__doc__ = getattr(member, "__doc__", None)

    def _get(self, obj: object | None) -> Any:
        return self if obj is None else getattr(getattr(obj, self.part), self.name)


class delegate(_PartMember, Generic[P, R]):
    """A method that calls ``getattr(self, part).<method's name>`` with the same arguments."""

    def __init__(self, part: str, method: Callable[Concatenate[Any, P], R]) -> None:
        super().__init__(part, method)

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> delegate[P, R]: ...

    @overload
    def __get__(self, obj: object, owner: type | None = None) -> Callable[P, R]: ...

    def __get__(self, obj: object | None, owner: type | None = None) -> Any:
        return self._get(obj)


class delegate_property(_PartMember, Generic[R]):
    """A read-only property that reads the same-named (or named) property of one part.

    ``n_images = delegate_property("images", Images.count)`` reads ``store.images.count``; mypy
    sees ``Images.count`` (a property read on the class) as ``(Images) -> int``, so the type holds.
    """

    def __init__(self, part: str, prop: Callable[[Any], R]) -> None:
        super().__init__(part, prop)

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> delegate_property[R]: ...

    @overload
    def __get__(self, obj: object, owner: type | None = None) -> R: ...

    def __get__(self, obj: object | None, owner: type | None = None) -> Any:
        return self._get(obj)
