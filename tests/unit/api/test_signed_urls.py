"""Signed artifact links: a pure rule over key, artifact id, expiry and the clock."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from orchestrator.api.signed_urls import download_path, signature, url_key, verify

KEY = url_key(b"a-fernet-key-for-tests")


@given(st.text(min_size=1), st.integers(1, 2**40), st.floats(0, 2**40))
def test_a_link_we_signed_is_good_exactly_until_it_expires(
    artifact_id: str, expires: int, now: float
) -> None:
    refused = verify(KEY, artifact_id, expires, signature(KEY, artifact_id, expires), now=now)

    assert (refused is None) == (now < expires)


@given(st.text(min_size=1), st.text(min_size=1), st.integers(1, 2**40))
def test_a_signature_only_opens_its_own_artifact(mine: str, other: str, expires: int) -> None:
    sent = signature(KEY, mine, expires)

    assert (verify(KEY, other, expires, sent, now=0) is None) == (other == mine)


@given(st.text(), st.integers(-(2**70), 2**70), st.text())
def test_any_forged_link_is_refused_and_never_raises(
    artifact_id: str, expires: int, sent: str
) -> None:
    if sent != signature(KEY, artifact_id, expires):
        assert verify(KEY, artifact_id, expires, sent, now=0) is not None


def test_the_url_key_is_not_the_secrets_key_and_a_new_key_voids_old_links() -> None:
    other = url_key(b"another-key")
    sent = signature(KEY, "a1", 100)

    assert KEY != b"a-fernet-key-for-tests"
    assert verify(other, "a1", 100, sent, now=0) is not None
    assert download_path(KEY, "a1", 100) == f"/artifacts/a1/download?expires=100&signature={sent}"
