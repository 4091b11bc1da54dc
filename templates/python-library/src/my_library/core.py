"""Core of MyLibrary."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MyLibraryGreeter:
    """Greets people on behalf of my-library."""

    greeting: str = "Hello"

    def greet(self, name: str) -> str:
        if not name.strip():
            raise ValueError("name must not be empty")
        return f"{self.greeting}, {name.strip()}!"


def greet(name: str) -> str:
    return MyLibraryGreeter().greet(name)
