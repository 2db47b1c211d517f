"""Connected apps against a live latchkey whose catalog names two providers
at a loopback port nothing listens on (what is tested here never reaches a
provider; the whole flow through a real provider is the Rust suite's,
crates/latchkey/tests/it/oauth/): the providers, an organization's own
client (its secret never answered), starting a connect and polling it,
``wait_for_connect`` on a failed, a cut-short and a cancelled connect
(both clients), the connections, and ``oauth.token`` for a service key
(``connect_url`` on its refusals)."""

from __future__ import annotations

import shutil
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Iterator
from urllib.parse import parse_qs, urlsplit

import anyio
import pytest

from latchkey import (
    AsyncLatchkey,
    BadRequestError,
    Latchkey,
    NotFoundError,
    PermissionDeniedError,
)
from support import RELAXED, Server, closed_port_url

ORG_SECRET = "org-client-secret-0123456789abcdef"
"""The organization's own client secret at ``bare`` (never to be answered)."""
NO_SUCH_CONNECTION = "ocn_01aaaaaaaaaaaaaaaaaaaaaaaa"


def catalog(at: str) -> str:
    """``latchkey.toml``: ``octo`` (the catalog's client, revocation and
    userinfo URLs) and ``bare`` (no client), both at ``at``."""
    return f"""{RELAXED}
[[oauth.providers]]
id = "octo"
display_name = "Octo"
authorize_url = "{at}/authorize"
token_url = "{at}/token"
revocation_url = "{at}/revoke"
userinfo_url = "{at}/user"
scopes = ["repo", "read:user"]
client_id = "octo-catalog-client"
client_secret = "catalog-client-secret-0123456789"

[[oauth.providers]]
id = "bare"
display_name = "Bare"
authorize_url = "{at}/authorize"
token_url = "{at}/token"
scopes = ["read:user"]
"""


@pytest.fixture(scope="module")
def oauth_server() -> Iterator[Server]:
    s = Server.start(config=catalog(closed_port_url()))
    try:
        yield s
    finally:
        s.stop()
        shutil.rmtree(s.data_dir, ignore_errors=True)


@pytest.fixture
def lk(oauth_server: Server) -> Iterator[Latchkey]:
    """The organization's admin (a person's key), with no retries."""
    with Latchkey(api_key=oauth_server.admin_key, base_url=oauth_server.url, max_retries=0) as client:
        yield client


@pytest.fixture
def browser(oauth_server: Server) -> Iterator[Latchkey]:
    """A client without a credential: a browser that is nobody's."""
    with Latchkey(base_url=oauth_server.url, max_retries=0) as client:
        yield client


def state_of(authorize_url: str) -> str:
    """The ``state`` of a connect's ``authorize_url`` (what the provider sends back)."""
    return parse_qs(urlsplit(authorize_url).query)["state"][0]


def test_providers_as_the_organization_sees_them(lk: Latchkey) -> None:
    octo, bare = lk.oauth.providers()
    assert (octo.id, octo.display_name, octo.default_scopes) == ("octo", "Octo", ["repo", "read:user"])
    assert octo.configured and octo.revokes_on_disconnect and octo.org_client is None
    assert bare.id == "bare" and not bare.configured and not bare.revokes_on_disconnect


def test_the_organizations_own_client_is_set_and_removed_and_its_secret_never_answered(lk: Latchkey) -> None:
    view = lk.oauth.set_client("bare", client_id="org-client", client_secret=ORG_SECRET)
    assert view.configured and view.org_client is not None
    assert (view.org_client.client_id, view.org_client.has_client_secret) == ("org-client", True)
    assert ORG_SECRET not in view.model_dump_json()
    listed = lk.oauth.providers()
    assert ORG_SECRET not in "".join(p.model_dump_json() for p in listed)
    public = lk.oauth.set_client("bare", client_id="public-client")
    assert public.org_client is not None and public.org_client.has_client_secret is False
    lk.oauth.remove_client("bare")
    assert not next(p for p in lk.oauth.providers() if p.id == "bare").configured
    with pytest.raises(NotFoundError):
        lk.oauth.remove_client("bare")
    with pytest.raises(NotFoundError):
        lk.oauth.set_client("nope", client_id="x")


def test_a_key_without_oauth_write_reads_only(lk: Latchkey, oauth_server: Server) -> None:
    reader = lk.keys.create(name="oauth reader", scopes=["oauth:read"]).key
    assert reader is not None
    with lk.with_options(api_key=reader) as narrow:
        assert len(narrow.oauth.providers()) == 2
        with pytest.raises(PermissionDeniedError) as e:
            narrow.oauth.set_client("bare", client_id="x")
        assert e.value.code == "insufficient_scope"
        with pytest.raises(PermissionDeniedError):
            narrow.oauth.connect(provider="octo")


def test_a_connect_starts_at_latchkeys_page_and_is_pending(lk: Latchkey, oauth_server: Server) -> None:
    started = lk.oauth.connect(provider="octo", scopes=["repo"])
    assert started.id.startswith("ocr_")
    page = urlsplit(started.authorize_url)
    assert f"{page.scheme}://{page.netloc}" == oauth_server.url
    assert page.path == f"/v1/oauth/connect/{started.id}/authorize"
    assert len(state_of(started.authorize_url)) >= 40
    expires = datetime.fromisoformat(started.expires_at.replace("Z", "+00:00"))
    assert timedelta(minutes=9) < expires - datetime.now(timezone.utc) <= timedelta(minutes=10)
    view = lk.oauth.get_connect(started.id)
    assert (view.id, view.provider, view.status, view.connection_id) == (started.id, "octo", "pending", None)

    with pytest.raises(BadRequestError) as e:
        lk.oauth.connect(provider="bare")
    assert e.value.code == "provider_not_configured"
    with pytest.raises(NotFoundError):
        lk.oauth.connect(provider="nope")


def test_wait_for_connect_returns_the_failed_view(lk: Latchkey, browser: Latchkey) -> None:
    started = lk.oauth.connect(provider="octo")
    refused = []

    def callback() -> None:
        # The provider's answer reaching a browser that is not the
        # requester's: the state is used up and the connect fails.
        try:
            browser.oauth.callback(state=state_of(started.authorize_url), code="some-code")
        except PermissionDeniedError as e:
            refused.append(e.code)

    timer = threading.Timer(0.3, callback)
    timer.start()
    done = lk.oauth.wait_for_connect(started.id, interval=0.05)
    timer.join()
    assert refused == ["forbidden"]
    assert (done.id, done.status, done.connection_id) == (started.id, "failed", None)
    assert (done.error or "").startswith("forbidden: ")
    # Finished: at once, without waiting an interval.
    began = time.monotonic()
    assert lk.oauth.wait_for_connect(started.id, interval=60).status == "failed"
    assert time.monotonic() - began < 5
    with pytest.raises(BadRequestError) as e:
        browser.oauth.callback(state=state_of(started.authorize_url), code="some-code")
    assert e.value.code == "invalid_state"


def test_wait_for_connect_stops_after_max_wait_with_the_pending_view(lk: Latchkey) -> None:
    started = lk.oauth.connect(provider="octo")
    began = time.monotonic()
    view = lk.oauth.wait_for_connect(started.id, interval=0.05, max_wait=0.4)
    elapsed = time.monotonic() - began
    assert view.status == "pending" and 0.35 <= elapsed < 5, elapsed


def test_another_person_cannot_wait_on_the_connect(lk: Latchkey, browser: Latchkey) -> None:
    started = lk.oauth.connect(provider="octo")
    other = browser.auth.signup(
        email="other@example.com", password="correct horse battery staple", display_name="Other", org_name="Other Org"
    )
    with browser.with_options(api_key=other.token) as theirs:
        with pytest.raises(NotFoundError):
            theirs.oauth.wait_for_connect(started.id)


def test_no_connections_before_a_completed_connect(lk: Latchkey) -> None:
    assert lk.oauth.connections.list() == []
    assert lk.oauth.connections.list(provider="octo") == []
    assert lk.oauth.connections.list(all_org=True) == []
    with pytest.raises(NotFoundError):
        lk.oauth.connections.set_default(NO_SUCH_CONNECTION)
    with pytest.raises(NotFoundError):
        lk.oauth.connections.delete(NO_SUCH_CONNECTION)


def test_token_for_a_service_key_says_not_connected_with_the_connect_url(oauth_server: Server) -> None:
    key = oauth_server.service_key("oauth:token")
    with Latchkey(api_key=key, base_url=oauth_server.url, max_retries=0) as runtime:
        with pytest.raises(NotFoundError) as e:
            runtime.oauth.token(provider="octo", user_id=oauth_server.user_id, scopes=["repo"])
        assert e.value.code == "not_connected"
        assert e.value.connect_url == f"{oauth_server.url}/dashboard/connected-apps?connect=octo"
        with pytest.raises(NotFoundError) as shared:
            runtime.oauth.token(provider="octo")
        assert shared.value.connect_url == e.value.connect_url
        with pytest.raises(NotFoundError) as unknown:
            runtime.oauth.token(provider="nope")
        assert unknown.value.code == "not_found" and unknown.value.connect_url is None


def test_token_is_refused_to_the_admins_own_key(lk: Latchkey, oauth_server: Server) -> None:
    with pytest.raises(PermissionDeniedError) as e:
        lk.oauth.token(provider="octo", user_id=oauth_server.user_id)
    assert e.value.code == "insufficient_scope" and e.value.connect_url is None


@pytest.mark.anyio
async def test_async_wait_for_connect_fails_and_is_cancelled(oauth_server: Server) -> None:
    async with AsyncLatchkey(api_key=oauth_server.admin_key, base_url=oauth_server.url, max_retries=0) as lk, \
            AsyncLatchkey(base_url=oauth_server.url, max_retries=0) as browser:
        started = await lk.oauth.connect(provider="octo")

        async def callback() -> None:
            await anyio.sleep(0.3)
            with pytest.raises(PermissionDeniedError):
                await browser.oauth.callback(state=state_of(started.authorize_url), code="some-code")

        async with anyio.create_task_group() as tg:
            tg.start_soon(callback)
            done = await lk.oauth.wait_for_connect(started.id, interval=0.05)
        assert (done.status, done.connection_id) == ("failed", None)

        pending = await lk.oauth.connect(provider="octo")
        began = time.monotonic()
        with anyio.move_on_after(0.3) as scope:
            await lk.oauth.wait_for_connect(pending.id, interval=0.05)
        assert scope.cancelled_caught and time.monotonic() - began < 5
        assert (await lk.oauth.get_connect(pending.id)).status == "pending"
        cut = await lk.oauth.wait_for_connect(pending.id, interval=0.05, max_wait=0.2)
        assert cut.status == "pending"
        runtime = lk.with_options(api_key=oauth_server.service_key("oauth:token"))
        with pytest.raises(NotFoundError) as e:
            await runtime.oauth.token(provider="octo", user_id=oauth_server.user_id)
        assert e.value.connect_url == f"{oauth_server.url}/dashboard/connected-apps?connect=octo"
