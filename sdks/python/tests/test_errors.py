"""Each error class from a real answer (or, for the connection errors, a
real failure to get one), with its status, code, message and request id."""

from __future__ import annotations

import re
import time
import uuid

import httpx
import pytest

from latchkey import (
    APIConnectionError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    LatchkeyError,
    Latchkey,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
)
from support import Server, Silent, closed_port_url

from conftest import MakeKey

REQUEST_ID = re.compile(r"^[0-9a-z]+-[0-9a-z]+$")


def check(e: APIStatusError, status: int, code: str) -> None:
    assert (e.status, e.code) == (status, code), str(e)
    assert e.message and e.message != f"HTTP {status}"
    assert e.request_id is not None and REQUEST_ID.match(e.request_id), e.request_id
    assert e.request_id in str(e)
    assert isinstance(e, LatchkeyError)


def test_400_bad_request(lk: Latchkey) -> None:
    with pytest.raises(BadRequestError) as e:
        lk.keys.create(name="bad", scopes=["no-such:scope"])
    check(e.value, 400, "invalid_scopes")


def test_401_authentication(server: Server) -> None:
    with Latchkey(api_key="lk_live_wrong", base_url=server.url, max_retries=0) as wrong:
        with pytest.raises(AuthenticationError) as e:
            wrong.me()
    check(e.value, 401, "unauthorized")


def test_no_key_is_refused_before_any_request(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LATCHKEY_API_KEY", raising=False)
    sent = []
    http = httpx.Client(event_hooks={"request": [sent.append]})
    with Latchkey(base_url=server.url, http_client=http) as keyless:
        with pytest.raises(LatchkeyError, match="LATCHKEY_API_KEY") as e:
            keyless.me()
        assert e.value.status is None and sent == []
        assert keyless.system.health() == {"status": "ok"}, "operations without a credential still work"
    http.close()


def test_the_credential_goes_only_to_operations_that_take_one(server: Server) -> None:
    sent: list = []
    http = httpx.Client(event_hooks={"request": [sent.append]})
    with Latchkey(api_key=server.admin_key, base_url=server.url, http_client=http) as lk:
        lk.me()
        lk.system.health()
        with pytest.raises(AuthenticationError):
            lk.auth.login(email="nobody@example.com", password="not the password")
    http.close()
    assert [r.headers.get("authorization") for r in sent] == [f"Bearer {server.admin_key}", None, None]


def test_an_invitation_token_in_a_path_stays_out_of_messages(server: Server) -> None:
    with Latchkey(api_key="lks_x", base_url=closed_port_url(), max_retries=0) as lk:
        with pytest.raises(APIConnectionError) as e:
            lk.invitations.accept_by_token("lki_secretsecretsecret")
    assert "lki_secretsecretsecret" not in str(e.value) and "/v1/invitations/lki_…/accept" in str(e.value)


def test_403_permission_denied(lk: Latchkey, service_key: str) -> None:
    with pytest.raises(PermissionDeniedError) as e:
        lk.with_options(api_key=service_key).keys.create(name="escalation")
    check(e.value, 403, "insufficient_scope")


def test_404_not_found(lk: Latchkey) -> None:
    with pytest.raises(NotFoundError) as e:
        lk.keys.get("key_00000000000000000000000000")
    check(e.value, 404, "not_found")


def test_path_ids_cannot_reach_another_route(lk: Latchkey, make_key: MakeKey) -> None:
    k = make_key()
    with pytest.raises(NotFoundError):
        lk.keys.get(f"{k.id}/usage")


def test_409_conflict(lk: Latchkey) -> None:
    email = f"dup-{uuid.uuid4().hex[:8]}@example.com"
    anonymous = lk.with_options(api_key=None)
    anonymous.auth.signup(email=email, password="correct horse battery", display_name="D", org_name="D")
    with pytest.raises(ConflictError) as e:
        anonymous.auth.signup(email=email, password="correct horse battery", display_name="D", org_name="D")
    check(e.value, 409, "conflict")


def test_413_payload_too_large(lk: Latchkey) -> None:
    with pytest.raises(PayloadTooLargeError) as e:
        lk.keys.create(name="big", scopes=["sandbox:read"] * 8000)
    check(e.value, 413, "payload_too_large")


def test_429_rate_limit_with_retry_after(lk: Latchkey, make_key: MakeKey) -> None:
    limited = make_key(scopes=["org:read"], rate_limit_per_minute=1)
    assert limited.key
    client = lk.with_options(api_key=limited.key)
    client.me()
    started = time.monotonic()
    with pytest.raises(RateLimitError) as e:
        client.me()
    check(e.value, 429, "rate_limited")
    assert e.value.retry_after is not None and 50 <= e.value.retry_after <= 60
    assert time.monotonic() - started < 2


def test_connection_refused(lk: Latchkey) -> None:
    with pytest.raises(APIConnectionError) as e:
        lk.with_options(base_url=closed_port_url()).me()
    assert not isinstance(e.value, APITimeoutError)
    assert e.value.status is None and e.value.request_id is None


def test_timeout() -> None:
    silent = Silent()
    try:
        with Latchkey(api_key="lk_live_x", base_url=silent.url, timeout=0.3, max_retries=0) as lk:
            started = time.monotonic()
            with pytest.raises(APITimeoutError):
                lk.me()
            assert time.monotonic() - started < 2
            with pytest.raises(APITimeoutError):
                lk.keys.list(timeout=0.2)
    finally:
        silent.close()


def test_an_answer_off_the_contract_is_a_validation_error(server: Server) -> None:
    # /healthz answers `{"status": "ok"}`; read as a key, it is not one.
    from latchkey import _response
    from latchkey.types import ApiKeyView

    with Latchkey(base_url=server.url) as lk:
        with pytest.raises(APIResponseValidationError) as e:
            lk._request("GET", "/healthz", parse=_response.model(ApiKeyView), auth=False)
    assert e.value.status == 200 and "does not match the contract" in str(e.value)
