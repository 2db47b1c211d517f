"""``latchkey.fastapi.require_key`` and ``latchkey.flask.require_key``
protecting a small app of each framework, verifying against the live
latchkey: valid, missing, revoked, wrong-scope, rate-limited and
out-of-credit keys, latchkey unreachable (fail closed, fail open), and the
hooks. Both helpers answer the same, so every case runs on both."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, Optional

import flask
import pytest
from fastapi import Depends, FastAPI, Request
from fastapi.testclient import TestClient
from starlette.responses import JSONResponse

from latchkey import AsyncLatchkey, Latchkey, LatchkeyError
from latchkey import fastapi as lk_fastapi
from latchkey import flask as lk_flask
from latchkey.types import VerifyView
from support import Server, closed_port_url

from conftest import MakeKey


@dataclass
class Answer:
    status: int
    headers: Dict[str, str]
    body: Any


Call = Callable[..., Answer]


def fastapi_app(
    base_url: str, service_key: Optional[str], options: Dict[str, Any], remote: Optional[str]
) -> Iterator[Call]:
    client = AsyncLatchkey(api_key=service_key, base_url=base_url, max_retries=0) if service_key else None
    app = FastAPI()
    guard = lk_fastapi.require_key(scopes=["sandbox:read"], client=client, **options)

    @app.get("/sandboxes")
    async def sandboxes(request: Request, verdict: Optional[VerifyView] = Depends(guard)) -> Dict[str, Any]:
        return {
            "keyId": verdict.key_id if verdict else None,
            "onRequest": request.state.latchkey is verdict,
        }

    # Starlette's test client is "testclient" unless told an address.
    with TestClient(app, client=(remote or "testclient", 50000)) as http:

        def call(headers: Optional[Dict[str, str]] = None, path: str = "/sandboxes") -> Answer:
            r = http.get(path, headers=headers or {})
            return Answer(r.status_code, {k.lower(): v for k, v in r.headers.items()}, r.json())

        yield call


def flask_app(
    base_url: str, service_key: Optional[str], options: Dict[str, Any], remote: Optional[str]
) -> Iterator[Call]:
    client = Latchkey(api_key=service_key, base_url=base_url, max_retries=0) if service_key else None
    app = flask.Flask(__name__)

    @app.get("/sandboxes")
    @lk_flask.require_key(scopes=["sandbox:read"], client=client, **options)
    def sandboxes() -> Dict[str, Any]:
        verdict = flask.g.latchkey
        return {"keyId": verdict.key_id if verdict else None, "onRequest": True}

    http = app.test_client()

    # Werkzeug's test client is 127.0.0.1 unless told an address.
    environ = {"REMOTE_ADDR": remote} if remote else {}

    def call(headers: Optional[Dict[str, str]] = None, path: str = "/sandboxes") -> Answer:
        r = http.get(path, headers=headers or {}, environ_base=environ)
        return Answer(r.status_code, {k.lower(): v for k, v in r.headers.items()}, json.loads(r.data))

    yield call
    if client is not None:
        client.close()


FRAMEWORKS = {"fastapi": fastapi_app, "flask": flask_app}
AppFactory = Callable[..., Call]


@pytest.fixture(params=sorted(FRAMEWORKS))
def app(request: pytest.FixtureRequest, server: Server, service_key: str) -> Iterator[AppFactory]:
    """Makes the framework's app with the given helper options (and, unless
    told, a client holding the service key), called from `remote` if given
    (else the framework's test client's own address)."""
    stack = []

    def make(
        base_url: str = server.url, key: Optional[str] = service_key, remote: Optional[str] = None, **options: Any
    ) -> Call:
        gen = FRAMEWORKS[request.param](base_url, key, options, remote)
        stack.append(gen)
        return next(gen)

    yield make
    for gen in stack:
        for _ in gen:
            pass


def envelope(answer: Answer, status: int, code: str) -> None:
    assert answer.status == status, answer
    assert answer.headers["content-type"].startswith("application/json")
    assert set(answer.body) == {"error"} and answer.body["error"]["code"] == code, answer.body
    assert isinstance(answer.body["error"]["message"], str) and answer.body["error"]["message"]


def test_a_valid_key_passes_with_its_verdict_on_the_request(app: AppFactory, make_key: MakeKey) -> None:
    call = app()
    k = make_key(scopes=["sandbox:read"])
    assert k.key
    for headers in ({"X-API-Key": k.key}, {"Authorization": f"Bearer {k.key}"}):
        answer = call(headers)
        assert (answer.status, answer.body) == (200, {"keyId": k.id, "onRequest": True}), answer


def test_missing_and_refused_keys_get_the_same_401(app: AppFactory, lk: Latchkey, make_key: MakeKey) -> None:
    call = app()
    missing = call()
    envelope(missing, 401, "unauthorized")
    envelope(call({"Authorization": "Basic abc"}), 401, "unauthorized")
    envelope(call({"X-API-Key": "lk_live_garbage"}), 401, "unauthorized")
    revoked = make_key(scopes=["sandbox:read"])
    assert revoked.key
    lk.keys.revoke(revoked.id)
    answer = call({"X-API-Key": revoked.key})
    envelope(answer, 401, "unauthorized")
    assert answer.body == missing.body, "the caller is not told why"


def test_a_key_without_the_scope_gets_403(app: AppFactory, make_key: MakeKey) -> None:
    k = make_key(scopes=["sandbox:write"])
    assert k.key
    envelope(app()({"X-API-Key": k.key}), 403, "insufficient_scope")


def test_the_clients_address_goes_with_the_key(app: AppFactory, make_key: MakeKey) -> None:
    """A key bound to 203.0.113.0/24 and 2001:db8::/32 passes from inside
    (IPv4, IPv6, IPv4-mapped IPv6) and gets 403 ``ip_not_allowed`` from
    outside or when the helper has no address to send; ``client_ip``
    replaces where the address is read from."""
    k = make_key(scopes=["sandbox:read"], allowed_cidrs=["203.0.113.0/24", "2001:db8::/32"])
    assert k.key
    headers = {"X-API-Key": k.key}
    for inside in ("203.0.113.7", "2001:db8::1", "::ffff:203.0.113.9"):
        answer = app(remote=inside)(headers)
        assert (answer.status, answer.body["keyId"]) == (200, k.id), (inside, answer)
    for outside in ("198.51.100.1", "2001:db9::1", "127.0.0.1"):
        envelope(app(remote=outside)(headers), 403, "ip_not_allowed")
    # The test clients' own addresses: "testclient" (not sent) and 127.0.0.1.
    call = app()
    envelope(call(headers), 403, "ip_not_allowed")
    open_key = make_key(scopes=["sandbox:read"])
    assert open_key.key
    assert call({"X-API-Key": open_key.key}).status == 200, "a key with no networks needs no address"

    def forwarded(request: Any) -> Optional[str]:
        return str(request.headers.get("x-client-address"))

    from_outside = app(remote="198.51.100.1", client_ip=forwarded)
    assert from_outside({**headers, "X-Client-Address": "203.0.113.20"}).status == 200
    envelope(from_outside({**headers, "X-Client-Address": "not an address"}), 403, "ip_not_allowed")
    from_inside = app(remote="203.0.113.7", client_ip=forwarded)
    envelope(from_inside({**headers, "X-Client-Address": "198.51.100.1"}), 403, "ip_not_allowed")


def test_a_rate_limited_key_gets_429_with_retry_after(app: AppFactory, make_key: MakeKey) -> None:
    call = app()
    k = make_key(scopes=["sandbox:read"], rate_limit_per_minute=1)
    assert k.key
    assert call({"X-API-Key": k.key}).status == 200
    answer = call({"X-API-Key": k.key})
    envelope(answer, 429, "rate_limited")
    assert 1 <= int(answer.headers["retry-after"]) <= 60
    assert answer.headers["ratelimit-limit"] == "1" and answer.headers["ratelimit-remaining"] == "0"


def test_a_key_out_of_credits_gets_429(app: AppFactory, make_key: MakeKey) -> None:
    call = app()
    k = make_key(scopes=["sandbox:read"], remaining=1)
    assert k.key
    assert call({"X-API-Key": k.key}).status == 200
    answer = call({"X-API-Key": k.key})
    envelope(answer, 429, "rate_limited")
    assert answer.headers["retry-after"] == "60"


def test_latchkey_unreachable_fails_closed_by_default_or_open_when_asked(app: AppFactory, make_key: MakeKey) -> None:
    k = make_key(scopes=["sandbox:read"])
    assert k.key
    down = closed_port_url()
    envelope(app(base_url=down)({"X-API-Key": k.key}), 503, "unavailable")
    opened = app(base_url=down, fail_open=True)({"X-API-Key": k.key})
    assert (opened.status, opened.body["keyId"]) == (200, None)
    # A missing key is refused even when failing open: nothing to verify.
    envelope(app(base_url=down, fail_open=True)(), 401, "unauthorized")


def test_a_wrong_service_key_is_an_error_not_a_refusal_of_the_caller(app: AppFactory, make_key: MakeKey) -> None:
    k = make_key(scopes=["sandbox:read"])
    assert k.key
    envelope(app(key="lk_live_wrong_service_key")({"X-API-Key": k.key}), 503, "unavailable")


def test_hooks(app: AppFactory, make_key: MakeKey, request: pytest.FixtureRequest) -> None:
    on_fastapi = "fastapi" in request.node.callspec.id
    k = make_key(scopes=["sandbox:read"])
    assert k.key
    seen: Dict[str, Any] = {}

    def respond(status: int, body: Dict[str, Any]) -> Any:
        if on_fastapi:
            return JSONResponse(body, status_code=status)
        return flask.Response(json.dumps(body), status=status, mimetype="application/json")

    def get_key(req: Any) -> Optional[str]:
        value: Optional[str] = req.query_params.get("key") if on_fastapi else req.args.get("key")
        return value

    def on_invalid(req: Any, verdict: VerifyView) -> Any:
        seen["invalid"] = verdict.code
        return respond(402, {"error": {"code": "custom", "message": verdict.code}})

    def on_error(req: Any, error: LatchkeyError) -> Any:
        seen["error"] = type(error).__name__
        return respond(502, {"error": {"code": "upstream", "message": "latchkey is down"}})

    call = app(get_key=get_key, on_invalid=on_invalid)
    assert call(path=f"/sandboxes?key={k.key}").body["keyId"] == k.id
    assert call({"X-API-Key": k.key}).status == 401, "get_key replaces the headers"
    refused = call(path="/sandboxes?key=lk_live_garbage")
    assert (refused.status, refused.body["error"]["code"], seen["invalid"]) == (402, "custom", "MALFORMED")
    failing = app(base_url=closed_port_url(), on_error=on_error)({"X-API-Key": k.key})
    assert (failing.status, failing.body["error"]["code"], seen["error"]) == (502, "upstream", "APIConnectionError")
    # A hook that returns None leaves the default answer.
    quiet = app(on_invalid=lambda req, verdict: None)({"X-API-Key": "lk_live_garbage"})
    envelope(quiet, 401, "unauthorized")


def test_the_default_client_comes_from_the_environment(
    app: AppFactory, make_key: MakeKey, server: Server, service_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LATCHKEY_API_KEY", service_key)
    monkeypatch.setenv("LATCHKEY_API_URL", server.url)
    monkeypatch.setattr(lk_flask, "_shared", None)
    k = make_key(scopes=["sandbox:read"])
    assert k.key
    call = app(key=None)
    assert call({"X-API-Key": k.key}).body["keyId"] == k.id
    envelope(call(), 401, "unauthorized")
