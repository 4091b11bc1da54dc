"""Replacement is one leftmost-longest pass with no re-replacement, whichever code path runs."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.scaffold.replacements import Replacer

_TEXT = st.text(alphabet="abcXY -", max_size=40)
_TOKENS = st.dictionaries(st.text(alphabet="abcXY", min_size=1, max_size=3),
                          st.text(alphabet="abcXYZ", max_size=3), min_size=1, max_size=5)


def _one_pass(table: dict[str, str], text: str) -> str:
    rx = re.compile("|".join(re.escape(t) for t in sorted(table, key=lambda t: (-len(t), t))))
    return rx.sub(lambda m: table[m.group(0)], text)


@settings(max_examples=400, deadline=None)
@given(_TOKENS, _TEXT)
def test_replacer_equals_a_single_longest_first_regex_pass(table: dict[str, str], text: str) -> None:
    replacer = Replacer()
    for token, value in table.items():
        replacer.add(token, value, f"symbols.{token}")
    assert replacer(text) == _one_pass(table, text)


def test_the_last_registration_of_a_token_wins_and_conflicting_symbols_are_reported() -> None:
    replacer = Replacer()
    replacer.add("Name", "first", "symbols.a.replaces (identity)")
    replacer.add("Name", "second", "symbols.b.replaces (identity)")
    assert replacer("Name!") == "second!"
    assert replacer.warnings and "the last wins" in replacer.warnings[0]
