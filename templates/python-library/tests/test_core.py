import pytest

from my_library import MyLibraryGreeter, greet


def test_greet_names_the_person() -> None:
    assert greet("Ada") == "Hello, Ada!"


def test_greeter_uses_its_greeting() -> None:
    assert MyLibraryGreeter("Hi").greet(" Bob ") == "Hi, Bob!"


def test_greet_rejects_an_empty_name() -> None:
    with pytest.raises(ValueError):
        greet("  ")
