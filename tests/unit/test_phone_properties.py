"""Properties of phone normalisation (phone_auth.phones.normalize_phone), checked with hypothesis.

* Every spelling of a number gives the same answer: its E.164 form, or for all of them the same
  refusal (E.164 with or without +, 00 for +, the national 0, separators and parentheses between
  digits, whitespace around).
* The answer is a fixed point: normalising an E.164 result gives itself.
* Any text at all is either a number or refused with InvalidPhone / NotAMobilePhone, never
  another exception.

Pure functions, no AWS: the examples are many and cheap.
"""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from phone_auth.errors import InvalidPhone, NotAMobilePhone
from phone_auth.phones import MAX_PHONE_LENGTH, normalize_phone
from tests.helpers.strategies import spelled, thai_mobile_nsn, thai_spellings

REGION = "TH"
PROPERTIES = settings(max_examples=300, deadline=None, database=None, derandomize=True)


def outcome(typed: str, region: str = REGION) -> str:
    """The E.164 answer, or the name of the refusal."""
    try:
        return normalize_phone(typed, region)
    except (InvalidPhone, NotAMobilePhone) as refused:
        return type(refused).__name__


@PROPERTIES
@given(nsn=thai_mobile_nsn(), data=st.data())
@example(nsn="812345678", data=None)
def test_every_spelling_of_a_thai_number_gives_the_same_answer(nsn: str, data: st.DataObject | None) -> None:
    canonical = outcome(f"+66{nsn}")
    assert canonical in (f"+66{nsn}", "InvalidPhone", "NotAMobilePhone")
    if data is None:
        return
    for _ in range(5):
        typed = data.draw(thai_spellings(nsn), label="typed")
        assert outcome(typed) == canonical, (typed, canonical)


def mobile_examples() -> list[tuple[str, str]]:
    """(region, E.164) of phonenumbers' example mobile of every region that has one."""
    found = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        number = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
        if number is not None:
            found.append((region, phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)))
    return found


MOBILES = mobile_examples()


@PROPERTIES
@given(mobile=st.sampled_from(MOBILES), data=st.data())
def test_any_country_in_e164_or_with_00_is_read_the_same_from_a_thai_stack(
    mobile: tuple[str, str], data: st.DataObject
) -> None:
    _, e164 = mobile
    digits = e164.removeprefix("+")
    typed = data.draw(st.one_of(spelled("+", digits), spelled("00", digits)), label="typed")
    assert outcome(typed) == outcome(e164), typed


def test_the_regions_example_mobiles_are_read_as_themselves() -> None:
    """Not a property of hypothesis's choosing: every region's example mobile, in E.164."""
    misread = {e164: outcome(e164) for _, e164 in MOBILES if outcome(e164) != e164}
    # Examples of numbers no SMS reaches are refused, as they should be; none becomes another number.
    assert all(answer in ("InvalidPhone", "NotAMobilePhone") for answer in misread.values()), misread


@PROPERTIES
@given(typed=st.one_of(thai_mobile_nsn().flatmap(thai_spellings), st.sampled_from([e for _, e in MOBILES])))
def test_an_answer_normalises_to_itself(typed: str) -> None:
    answer = outcome(typed)
    if answer.startswith("+"):
        assert answer[1:].isdigit() and len(answer) <= 16, answer
        assert normalize_phone(answer, REGION) == answer
        # and from any market: E.164 does not depend on the default region
        assert normalize_phone(answer, "US") == answer


PHONEISH = st.text(alphabet="0123456789+-. ()\t#*xext;=,/", max_size=40)


@settings(
    max_examples=1000, deadline=None, database=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(typed=st.one_of(st.text(max_size=MAX_PHONE_LENGTH + 8), PHONEISH))
@example(typed="0" * (MAX_PHONE_LENGTH + 1))
@example(typed=" " * 40 + "+66812345678")
@example(typed="\ud800")
@example(typed="+66812345678\x00")
def test_any_text_is_a_number_or_a_phone_refusal(typed: str) -> None:
    try:
        answer = normalize_phone(typed, REGION)
    except (InvalidPhone, NotAMobilePhone):
        return
    assert answer.startswith("+") and answer[1:].isdigit(), (typed, answer)
    assert len(typed.strip()) <= MAX_PHONE_LENGTH
    assert normalize_phone(answer, REGION) == answer


@pytest.mark.parametrize("region", ["TH", "US", "GB"])
def test_an_empty_or_blank_phone_is_invalid_in_any_market(region: str) -> None:
    for typed in ("", " ", "\t\n"):
        assert outcome(typed, region) == "InvalidPhone"
