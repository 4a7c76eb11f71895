"""Verification codes: format, unguessability by construction, typing tolerance, determinism."""

from __future__ import annotations

import re
import uuid

from smartcourse.certificates.domain import (
    ALPHABET,
    CODE_BITS,
    certificate_key,
    code_for_issuance,
    new_code,
    normalise_code,
    verify_url,
)

CODE_RE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{5}(-[0-9A-HJKMNP-TV-Z]{5}){4}$")  # as the migration's CHECK


def test_codes_are_five_groups_of_five_crockford_characters_carrying_125_bits() -> None:
    codes = {new_code() for _ in range(2000)}
    assert len(codes) == 2000
    assert all(CODE_RE.match(c) for c in codes)
    assert CODE_BITS == 125 and len(ALPHABET) == 32 and not set("ILOU") & set(ALPHABET)
    # every position uses the whole alphabet (no constant prefix that would shrink the space)
    first_chars = {c[0] for c in codes}
    assert len(first_chars) == 32


def test_the_code_of_one_issuance_is_stable_and_different_issuances_differ() -> None:
    # Given one completion event id
    event_id = uuid.uuid4()
    # When the code is derived twice (a retry after the S3 put but before the commit)
    # Then it is the same code, hence the same object key
    assert code_for_issuance(event_id) == code_for_issuance(event_id)
    assert certificate_key(code_for_issuance(event_id)) == f"certificates/{code_for_issuance(event_id)}.pdf"
    derived = {code_for_issuance(uuid.uuid4()) for _ in range(2000)}
    assert len(derived) == 2000 and all(CODE_RE.match(c) for c in derived)


def test_typed_codes_are_normalised_and_malformed_ones_rejected() -> None:
    code = "7K3QD-X9M2P-0BCWE-HTRZ4-5NFGA"
    assert normalise_code(code) == code
    assert normalise_code(" 7k3qd x9m2p 0bcwe htrz4 5nfga ") == code
    assert normalise_code("7K3QDX9M2POBCWEHTRZ45NFGA") == code  # O typed for 0
    assert normalise_code("1I1L1-00000-00000-00000-00000") == "11111-00000-00000-00000-00000"
    for bad in ["", "7K3QD", code + "X", "7K3QD-X9M2P-0BCWE-HTRZ4-5NFG!", "x" * 500, "../../etc/passwd"]:
        assert normalise_code(bad) is None, bad


def test_verify_url_is_the_public_api_route() -> None:
    assert verify_url("https://sc.example.com/", "AAAAA-BBBBB-CCCCC-DDDDD-EEEEE") == \
        "https://sc.example.com/certificates/AAAAA-BBBBB-CCCCC-DDDDD-EEEEE"
