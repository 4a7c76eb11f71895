"""Phone numbers on accounts (plain Python, accounts.domain): E.164 as the API takes it, the code
derived from the code's id and the number, and what an entered code gets (verified, wrong,
expired, tried too often), and how many codes may be texted an hour."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from smartcourse.accounts import domain
from smartcourse.accounts.schemas import PhoneCodeRequest, PhoneRequest
from smartcourse.errors import RuleViolated

KEY = b"k" * 32
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PHONE = "+447700900123"


@pytest.mark.parametrize("phone", ["+447700900123", "+14155550100", "+33612345678", "+8613800138000",
                                   "+12345678", "+123456789012345"])
def test_e164_numbers_are_taken(phone: str) -> None:
    assert domain.is_e164(phone)
    assert PhoneRequest(phone=phone).phone == phone


@pytest.mark.parametrize("phone", ["447700900123", "+0447700900123", "+44 7700 900123", "+44-7700-900123",
                                   "+1234567", "+1234567890123456", "+44770090012a", "", "+", "+४४७७००९००१२३",
                                   "+44770090\n0123"])
def test_anything_else_is_refused_naming_the_field(phone: str) -> None:
    assert not domain.is_e164(phone)
    with pytest.raises(ValidationError) as err:
        PhoneRequest(phone=phone)
    assert err.value.errors()[0]["loc"] == ("phone",)


def test_surrounding_whitespace_is_trimmed_as_in_every_request() -> None:
    assert PhoneRequest(phone=" +447700900123\n").phone == PHONE


def test_codes_are_six_digits_bound_to_the_code_and_the_number_and_the_key() -> None:
    ids = [uuid.uuid4() for _ in range(300)]
    codes = [domain.phone_code(KEY, i, PHONE) for i in ids]
    assert all(len(c) == 6 and c.isdigit() for c in codes)
    assert domain.phone_code(KEY, ids[0], PHONE) == codes[0]  # derived, not random: both sides agree
    assert len(set(codes)) > 290  # spread over the million
    assert domain.phone_code(KEY, ids[0], "+14155550100") != codes[0] or \
        domain.phone_code(KEY, ids[1], "+14155550100") != codes[1]
    assert domain.phone_code(b"another deployment's key.......", ids[0], PHONE) != codes[0] or \
        domain.phone_code(b"another deployment's key.......", ids[1], PHONE) != codes[1]
    assert any(c.startswith("0") for c in codes)  # leading zeros kept
    PhoneCodeRequest(code=codes[0])
    for bad in ("12345", "1234567", "12345a", " 12345"):
        with pytest.raises(ValidationError):
            PhoneCodeRequest(code=bad)


def _facts(attempts: int = 0, expires: datetime = NOW + domain.CODE_LIFETIME) -> domain.PhoneCodeFacts:
    return domain.PhoneCodeFacts(uuid.uuid4(), PHONE, expires, attempts)


def test_the_right_code_verifies_a_wrong_one_is_counted() -> None:
    facts = _facts()
    right = domain.phone_code(KEY, facts.id, PHONE)
    assert domain.judge_code(KEY, facts, PHONE, right, NOW) == "verified"
    wrong = str((int(right) + 1) % 10**6).zfill(6)
    assert domain.judge_code(KEY, facts, PHONE, wrong, NOW) == "wrong"
    err = domain.wrong_code(1)
    assert err.details[0].field == "code" and "4 tries left" in err.details[0].problem
    assert "1 try left" in domain.wrong_code(4).details[0].problem
    assert "last try" in domain.wrong_code(5).details[0].problem


@pytest.mark.parametrize(("facts", "phone", "when", "says"), [
    (None, PHONE, NOW, "no code was sent"),
    (_facts(), None, NOW, "no code was sent"),                      # the number was removed
    (_facts(), "+14155550100", NOW, "no code was sent"),            # another number since
    (_facts(), PHONE, NOW + domain.CODE_LIFETIME, "has expired"),   # 10 minutes
    (_facts(attempts=domain.CODE_ATTEMPTS), PHONE, NOW, "5 times"),  # 5 wrong tries
])
def test_no_attempt_can_succeed_without_a_live_code(facts: domain.PhoneCodeFacts | None, phone: str | None,
                                                      when: datetime, says: str) -> None:
    right = domain.phone_code(KEY, facts.id, PHONE) if facts else "000000"
    with pytest.raises(RuleViolated) as err:
        domain.judge_code(KEY, facts, phone, right, when)  # even the right code
    assert err.value.details[0].field == "code" and says in err.value.details[0].problem


def test_a_code_still_works_just_before_it_expires_and_on_the_last_try() -> None:
    facts = _facts(attempts=domain.CODE_ATTEMPTS - 1)
    right = domain.phone_code(KEY, facts.id, PHONE)
    assert domain.judge_code(KEY, facts, PHONE, right, facts.expires_at - timedelta(seconds=1)) == "verified"


def test_three_codes_an_hour_per_account_and_per_number() -> None:
    assert domain.code_send_wait([], [], NOW) == timedelta(0)
    two = [NOW - timedelta(minutes=50), NOW - timedelta(minutes=5)]
    assert domain.code_send_wait(two, two, NOW) == timedelta(0)
    three = [NOW - timedelta(minutes=50), NOW - timedelta(minutes=20), NOW - timedelta(minutes=5)]
    assert domain.code_send_wait(three, [], NOW) == timedelta(minutes=10)  # the oldest leaves the hour
    assert domain.code_send_wait([], three, NOW) == timedelta(minutes=10)  # the number, by other accounts
    old = [NOW - timedelta(minutes=70), *three[1:]]
    assert domain.code_send_wait(old, [], NOW) == timedelta(0)
    assert domain.retry_after_s(domain.code_send_wait(three, [], NOW)) == 600
