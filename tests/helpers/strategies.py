"""Hypothesis strategies the property and fuzz tests share: phone numbers as people type them.

A Thai mobile's national significant number is 9 digits (8x, 9x, 6x); people type it in E.164
(+66812345678), without the + (66812345678), with 00 for + (0066812345678) or nationally with a
leading 0 (0812345678), with spaces, dashes, dots or parentheses anywhere between digits, and
with whitespace around it. ``spellings(nsn)`` draws one such spelling of a number.
"""

from __future__ import annotations

from hypothesis import strategies as st

#: How a Thai number may start, glued to what follows: E.164 (+ and 66), 66 alone, 00 for + and
#: the national 0. The 00 stays whole at the very start: that is where normalize_phone reads it.
TH_FORMS = (("+", "66"), ("", "66"), ("00", "66"), ("", "0"))
SEPARATORS = (" ", "-", ".")
#: Around the whole number, as a copy and paste brings it.
SURROUNDINGS = ("", " ", "  ", "\t", "\n")


def thai_mobile_nsn() -> st.SearchStrategy[str]:
    """A national significant number that may be a Thai mobile (the ranges 6x, 8x, 9x)."""
    return st.builds(
        lambda first, rest: first + rest,
        st.sampled_from(["6", "8", "9"]),
        st.text(alphabet="0123456789", min_size=8, max_size=8),
    )


@st.composite
def spelled(draw: st.DrawFn, prefix: str, digits: str) -> str:
    """``prefix`` + ``digits`` with separators between some digits and perhaps a group in parentheses."""
    groups: list[str] = []
    start = 0
    for position in range(1, len(digits) + 1):
        if position == len(digits) or draw(st.booleans()):
            groups.append(digits[start:position])
            start = position
    if len(groups) > 1 and draw(st.booleans()):
        index = draw(st.integers(0, len(groups) - 2))
        groups[index] = f"({groups[index]})"
    text = groups[0]
    for group in groups[1:]:
        text += draw(st.sampled_from(("", *SEPARATORS))) + group
    if prefix:
        text = prefix + draw(st.sampled_from(("", *SEPARATORS))) + text
    before, after = draw(st.sampled_from(SURROUNDINGS)), draw(st.sampled_from(SURROUNDINGS))
    return before + text + after


@st.composite
def thai_spellings(draw: st.DrawFn, nsn: str) -> str:
    """One way of typing the Thai number whose national significant number is ``nsn``."""
    prefix, lead = draw(st.sampled_from(TH_FORMS))
    return draw(spelled(prefix, lead + nsn))


def thai_phone_inputs() -> st.SearchStrategy[str]:
    """A Thai mobile number (or something very like one) as a person might type it."""
    return thai_mobile_nsn().flatmap(thai_spellings)
