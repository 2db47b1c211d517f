"""Workspaces against a live latchkey without an object store: the records
(create, list, get, update, delete), a mount decision's grant verified
offline with the published keys (``workspaces.verify_grant`` on both
clients, ``verify_mount_grant``, the verifiers), each way a grant is
refused (tampered claims or signature, another sandbox, expired, an
unknown kid, ``alg: none``, malformed), the key set fetched again after a
master key rotation, the ImportError naming the ``grants`` extra, and the
server's refusals with their codes; on SQLite and on PostgreSQL."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Dict, Iterator, List

import httpx
import pytest

from latchkey import (
    AsyncLatchkey,
    AsyncMountGrantVerifier,
    BadRequestError,
    InternalServerError,
    Latchkey,
    MountGrantError,
    MountGrantVerifier,
    NotFoundError,
    PermissionDeniedError,
    verify_mount_grant,
)
from latchkey.types import GrantKeys, MountMode, WorkspaceView
from support import Server, binary, drop_database, fresh_database, require_postgres

UNKNOWN_KID = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def wsp_server(request: pytest.FixtureRequest) -> Iterator[Server]:
    """A server of its own (one test rotates its master key), on each backend."""
    database = None
    if request.param == "postgres":
        require_postgres()
        database = fresh_database()
    s = Server.start(database_url=database)
    try:
        yield s
    finally:
        s.stop()
        shutil.rmtree(s.data_dir, ignore_errors=True)
        if database:
            drop_database(database)


@pytest.fixture
def lk(wsp_server: Server) -> Iterator[Latchkey]:
    with Latchkey(api_key=wsp_server.admin_key, base_url=wsp_server.url, max_retries=0) as client:
        yield client


@pytest.fixture(scope="module")
def shared(wsp_server: Server) -> WorkspaceView:
    """An organization workspace every test may mount."""
    with Latchkey(api_key=wsp_server.admin_key, base_url=wsp_server.url, max_retries=0) as client:
        return client.workspaces.create(name="shared", kind="org")


class Recorder:
    """An httpx client that records the path of every request it sends."""

    def __init__(self) -> None:
        self.paths: List[str] = []
        self.http = httpx.Client(event_hooks={"request": [lambda r: self.paths.append(r.url.path)]})


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    r = Recorder()
    try:
        yield r
    finally:
        r.http.close()


def b64(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def unb64(part: str) -> Dict[str, Any]:
    value: Dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return value


def with_part(grant: str, i: int, f: Callable[[str], str]) -> str:
    parts = grant.split(".")
    parts[i] = f(parts[i])
    return ".".join(parts)


def refused(reason: str, run: Callable[[], Any]) -> MountGrantError:
    with pytest.raises(MountGrantError) as e:
        run()
    assert e.value.reason == reason, e.value
    assert e.value.code == "invalid_grant"
    return e.value


def mount_grant(lk: Latchkey, w: WorkspaceView, sandbox_id: str = "sbx_1", mode: MountMode = "rw") -> str:
    decision = lk.workspaces.mount(w.id, sandbox_id=sandbox_id, path="/workspace", mode=mode)
    assert decision.allowed is True
    return decision.grant


def test_records_create_list_get_update_delete(lk: Latchkey, wsp_server: Server, shared: WorkspaceView) -> None:
    org = lk.workspaces.create(name="team data", kind="org", quota_bytes=1024)
    mine = lk.workspaces.create(name="notes", kind="personal")
    assert org.id.startswith("wsp_") and org.kind == "org" and org.quota_bytes == 1024
    assert org.storage_prefix == f"orgs/{wsp_server.org_id}/workspaces/{org.id}/"
    assert (mine.kind, mine.owner_user_id) == ("personal", wsp_server.user_id)

    listed = [w.id for w in lk.workspaces.list(limit=1)]
    assert {org.id, mine.id, shared.id} <= set(listed)
    assert [w.id for w in lk.workspaces.list(kind="personal")] == [mine.id]

    assert lk.workspaces.get(org.id).name == "team data"
    renamed = lk.workspaces.update(org.id, name="team files", quota_bytes=None)
    assert (renamed.name, renamed.quota_bytes, renamed.storage_prefix) == ("team files", None, org.storage_prefix)

    lk.workspaces.delete(org.id)
    lk.workspaces.delete(mine.id)
    with pytest.raises(NotFoundError) as e:
        lk.workspaces.get(org.id)
    assert (e.value.status, e.value.code) == (404, "not_found")


def test_refusals_reach_the_caller_with_their_codes(lk: Latchkey, shared: WorkspaceView) -> None:
    mine = lk.workspaces.create(name="diary", kind="personal")
    with pytest.raises(PermissionDeniedError) as denied:
        lk.workspaces.mount(mine.id, sandbox_id="sbx_1", path="/workspace", mode="ro")
    assert (denied.value.status, denied.value.code) == (403, "personal_workspace_not_mountable")
    for path in ["workspace", "/", "/etc/secrets", "/a/../b"]:
        with pytest.raises(BadRequestError) as bad:
            lk.workspaces.mount(shared.id, sandbox_id="sbx_1", path=path, mode="ro")
        assert (bad.value.status, bad.value.code) == (400, "invalid_mount_path"), path
    with pytest.raises(InternalServerError) as none:
        lk.workspaces.presign(shared.id, path="a.txt", method="PUT")
    assert (none.value.status, none.value.code) == (501, "storage_not_configured")
    with pytest.raises(InternalServerError) as listing:
        lk.workspaces.files(shared.id).data
    assert (listing.value.status, listing.value.code) == (501, "storage_not_configured")
    lk.workspaces.delete(mine.id)


def test_a_grant_verifies_offline_with_the_keys_fetched_once(
    lk: Latchkey, wsp_server: Server, shared: WorkspaceView, recorder: Recorder
) -> None:
    grant = mount_grant(lk, shared, "sbx_1", "ro")
    with Latchkey(base_url=wsp_server.url, max_retries=0, http_client=recorder.http) as runtime:
        claims = runtime.workspaces.verify_grant(grant, sandbox_id="sbx_1")
        assert (claims.sub, claims.org, claims.prefix) == (shared.id, wsp_server.org_id, shared.storage_prefix)
        assert (claims.sandbox_id, claims.path, claims.mode) == ("sbx_1", "/workspace", "ro")
        assert claims.aud == "latchkey:mount" and claims.exp - claims.iat == 300 and claims.jti
        # The keys are kept: a second grant needs no request.
        again = runtime.workspaces.verify_grant(mount_grant(lk, shared, "sbx_2"))
        assert (again.sandbox_id, again.mode) == ("sbx_2", "rw")
    assert recorder.paths == ["/v1/workspaces/grant-keys"]
    # The standalone function, with the set as a model or as its JSON.
    keys = lk.workspaces.grant_keys()
    assert verify_mount_grant(grant, keys, sandbox_id="sbx_1") == claims
    raw = httpx.get(f"{wsp_server.url}/v1/workspaces/grant-keys").json()
    assert verify_mount_grant(grant, raw) == claims


def test_tampered_claims_signature_another_sandbox_and_expiry_are_refused(
    lk: Latchkey, shared: WorkspaceView
) -> None:
    grant = mount_grant(lk, shared, "sbx_1", "ro")
    keys = lk.workspaces.grant_keys()
    claims = unb64(grant.split(".")[1])

    escalated = with_part(grant, 1, lambda _: b64({**claims, "mode": "rw"}))
    refused("signature", lambda: lk.workspaces.verify_grant(escalated))
    elsewhere = with_part(grant, 1, lambda _: b64({**claims, "sub": "wsp_01other", "prefix": "orgs/x/"}))
    refused("signature", lambda: verify_mount_grant(elsewhere, keys))

    def flip(part: str) -> str:
        raw = bytearray(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
        raw[10] ^= 1
        return base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()

    refused("signature", lambda: lk.workspaces.verify_grant(with_part(grant, 2, flip)))
    refused("sandbox_mismatch", lambda: lk.workspaces.verify_grant(grant, sandbox_id="sbx_2"))
    exp = int(claims["exp"])
    refused("expired", lambda: lk.workspaces.verify_grant(grant, now=exp))
    later = datetime.now(timezone.utc) + timedelta(seconds=301)
    refused("expired", lambda: verify_mount_grant(grant, keys, now=later))
    # A second before it expires, it still verifies.
    assert verify_mount_grant(grant, keys, now=exp - 1).sub == shared.id


def test_unknown_kid_alg_none_and_malformed_grants_are_refused(
    lk: Latchkey, wsp_server: Server, shared: WorkspaceView, recorder: Recorder
) -> None:
    grant = mount_grant(lk, shared)
    header = unb64(grant.split(".")[0])
    keys = lk.workspaces.grant_keys()

    unknown = with_part(grant, 0, lambda _: b64({**header, "kid": UNKNOWN_KID}))
    refused("unknown_key", lambda: verify_mount_grant(unknown, keys))
    refused("unknown_key", lambda: lk.workspaces.verify_grant(unknown))
    other_curve = {"keys": [{**k.model_dump(by_alias=True), "crv": "Ed448"} for k in keys.keys]}
    refused("unknown_key", lambda: verify_mount_grant(grant, other_curve))

    none = with_part(with_part(grant, 0, lambda _: b64({**header, "alg": "none"})), 2, lambda _: "")
    other_type = with_part(grant, 0, lambda _: b64({**header, "typ": "JWT"}))
    with Latchkey(base_url=wsp_server.url, max_retries=0, http_client=recorder.http) as runtime:
        refused("header", lambda: runtime.workspaces.verify_grant(none))
        refused("header", lambda: runtime.workspaces.verify_grant(other_type))
        for bad in ["", "a.b", f"{grant}.x", with_part(grant, 1, lambda c: c + "="), with_part(grant, 1, lambda _: "!!")]:
            refused("malformed", lambda: runtime.workspaces.verify_grant(bad))
    refused("header", lambda: verify_mount_grant(none, keys))
    assert recorder.paths == [], "no key set fetched for a grant refused on its face"


@pytest.mark.anyio
async def test_the_async_client_verifies_and_refuses(wsp_server: Server, shared: WorkspaceView) -> None:
    async with AsyncLatchkey(api_key=wsp_server.admin_key, base_url=wsp_server.url, max_retries=0) as lk:
        decision = await lk.workspaces.mount(shared.id, sandbox_id="sbx_9", path="/data", mode="ro")
        claims = await lk.workspaces.verify_grant(decision.grant, sandbox_id="sbx_9")
        assert (claims.sub, claims.path, claims.mode) == (shared.id, "/data", "ro")
        with pytest.raises(MountGrantError) as e:
            await lk.workspaces.verify_grant(decision.grant, sandbox_id="sbx_1")
        assert e.value.reason == "sandbox_mismatch"
        with pytest.raises(MountGrantError) as e:
            await lk.workspaces.verify_grant(decision.grant, now=time.time() + 301)
        assert e.value.reason == "expired"


@pytest.mark.anyio
async def test_the_keys_are_fetched_again_after_a_master_key_rotation(
    lk: Latchkey, wsp_server: Server, shared: WorkspaceView
) -> None:
    fetches: List[str] = []

    async def fetch() -> GrantKeys:
        fetches.append("async")
        async with AsyncLatchkey(base_url=wsp_server.url, max_retries=0) as anon:
            return await anon.workspaces.grant_keys()

    def fetch_sync() -> GrantKeys:
        fetches.append("sync")
        return lk.workspaces.grant_keys()

    refreshing = AsyncMountGrantVerifier(fetch, cooldown=0)
    refreshing_sync = MountGrantVerifier(fetch_sync, cooldown=0)
    holding = MountGrantVerifier(fetch_sync, cooldown=3600)
    before = mount_grant(lk, shared)
    await refreshing.verify(before)
    refreshing_sync.verify(before)
    holding.verify(before)
    assert fetches == ["async", "sync", "sync"]

    db = ["--database-url", wsp_server.database_url] if wsp_server.database_url else []
    subprocess.run(
        [str(binary()), "admin", "rotate-master-key", "--data-dir", str(wsp_server.data_dir), *db],
        capture_output=True,
        timeout=60,
        check=True,
    )
    published = lk.workspaces.grant_keys()
    assert len(published.keys) == 2, "the new key first, the old one still"
    after = mount_grant(lk, shared)
    kid = unb64(after.split(".")[0])["kid"]
    assert kid == published.keys[0].kid != unb64(before.split(".")[0])["kid"]

    assert (await refreshing.verify(after, sandbox_id="sbx_1")).sub == shared.id
    assert refreshing_sync.verify(after).sub == shared.id
    assert fetches[3:] == ["async", "sync"], "one more fetch each"
    # Grants made before the rotation still verify.
    assert (await refreshing.verify(before)).sub == shared.id
    # Within its cooldown, a verifier does not fetch again, and refuses.
    refused("unknown_key", lambda: holding.verify(after))
    assert len(fetches) == 5


def test_without_cryptography_the_error_names_the_extra(
    lk: Latchkey, shared: WorkspaceView, monkeypatch: pytest.MonkeyPatch
) -> None:
    grant = mount_grant(lk, shared)
    keys = lk.workspaces.grant_keys()
    monkeypatch.setitem(sys.modules, "cryptography.hazmat.primitives.asymmetric.ed25519", None)
    for run in (lambda: verify_mount_grant(grant, keys), lambda: lk.workspaces.verify_grant(grant)):
        with pytest.raises(ImportError, match=r"pip install 'latchkey\[grants\]'"):
            run()
