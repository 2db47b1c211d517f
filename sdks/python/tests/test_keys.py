"""The blocking client against a live latchkey: keys from creation to
deletion, every verdict code, what a key can do (explain), lists across
pages, and the settings read from the environment."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
import uuid

import pytest

from latchkey import BadRequestError, Latchkey, NotFoundError, SyncPage
from latchkey.types import ApiKeyView, RefillView
from support import Server

from conftest import MakeKey


def test_create_shows_the_key_once_and_get_never_again(lk: Latchkey, make_key: MakeKey) -> None:
    created = make_key(scopes=["sandbox:create"], expires_in="30d", rate_limit_per_minute=100)
    assert created.key is not None and created.key.startswith("lk_live_")
    assert created.key not in repr(created), "the plaintext stays out of repr()"
    assert created.scopes == ["sandbox:create"]
    assert created.rate_limit_per_minute == 100
    assert created.expires_at is not None
    fetched = lk.keys.get(created.id)
    assert fetched.id == created.id and fetched.key is None
    assert fetched.key_prefix == created.key[: len(fetched.key_prefix)]


def test_update_keeps_absent_fields_and_clears_null_ones(lk: Latchkey, make_key: MakeKey) -> None:
    k = make_key(rate_limit_per_minute=10, rate_limit_per_day=1000, remaining=5)
    renamed = lk.keys.update(k.id, name="renamed")
    assert (renamed.name, renamed.rate_limit_per_minute, renamed.rate_limit_per_day) == ("renamed", 10, 1000)
    cleared = lk.keys.update(k.id, rate_limit_per_minute=None, refill=RefillView(amount=7, interval="daily"))
    assert cleared.rate_limit_per_minute is None and cleared.rate_limit_per_day == 1000
    assert cleared.refill is not None and (cleared.refill.amount, cleared.refill.interval) == (7, "daily")
    as_dict = lk.keys.update(k.id, refill={"amount": 9, "interval": "monthly"})
    assert as_dict.refill is not None and as_dict.refill.amount == 9


def verdict(lk: Latchkey, key: str, **kw: object) -> str:
    return lk.keys.verify(key=key, **kw).code  # type: ignore[arg-type]


def test_verify_answers_each_code_as_a_verdict(lk: Latchkey, make_key: MakeKey, server: Server) -> None:
    valid = make_key(scopes=["sandbox:read"])
    assert valid.key
    v = lk.keys.verify(key=valid.key, scopes=["sandbox:read"])
    assert (v.valid, v.code, v.key_id, v.org_id) == (True, "VALID", valid.id, server.org_id)

    assert verdict(lk, "lk_live_not-a-key") == "MALFORMED"

    gone = make_key()
    assert gone.key
    lk.keys.delete(gone.id)
    assert verdict(lk, gone.key) == "NOT_FOUND"

    short = make_key(expires_in="1s")
    assert short.key
    time.sleep(1.2)
    assert verdict(lk, short.key) == "EXPIRED"

    revoked = make_key()
    assert revoked.key
    lk.keys.revoke(revoked.id)
    assert verdict(lk, revoked.key) == "REVOKED"

    assert verdict(lk, valid.key, scopes=["sandbox:write"]) == "INSUFFICIENT_SCOPE"

    limited = make_key(rate_limit_per_minute=1)
    assert limited.key
    assert verdict(lk, limited.key) == "VALID"
    limited_again = lk.keys.verify(key=limited.key)
    assert (limited_again.valid, limited_again.code) == (False, "RATE_LIMITED")
    assert limited_again.ratelimit is not None and limited_again.ratelimit.limit == 1

    budget = make_key(remaining=1)
    assert budget.key
    assert verdict(lk, budget.key) == "VALID"
    assert verdict(lk, budget.key) == "USAGE_EXCEEDED"


def test_explain_says_what_a_key_can_do_and_spends_nothing(lk: Latchkey, make_key: MakeKey) -> None:
    k = make_key(scopes=["sandbox:read"], rate_limit_per_minute=2, remaining=5)
    assert k.key
    for _ in range(3):
        e = lk.keys.explain(key_id=k.id, scopes=["sandbox:write"])
        assert e.verdict is not None and e.verdict.code == "INSUFFICIENT_SCOPE"
        assert e.limits.per_minute is not None and (e.limits.per_minute.limit, e.limits.per_minute.remaining) == (2, 2)
        assert e.credits is not None and e.credits.remaining == 5
        why = {p.permission: (p.allowed, p.reason) for p in e.permissions}
        assert why["sandbox:read"] == (True, None) and why["sandbox:write"] == (False, "not_granted")
    v = lk.keys.verify(key=k.key)
    assert (v.code, v.remaining) == ("VALID", 4)
    assert v.ratelimit is not None and v.ratelimit.remaining == 1
    assert lk.keys.explain(key=k.key).key_id == k.id


def test_verify_says_disabled_once_the_owner_left(lk: Latchkey, server: Server) -> None:
    email = f"member-{uuid.uuid4().hex[:8]}@example.com"
    invitation = lk.invitations.create(email=email, role="member")
    assert invitation.token
    anonymous = lk.with_options(api_key=None)
    grant = anonymous.auth.signup(email=email, password="correct horse battery", display_name="Member", org_name="Own")
    with Latchkey(api_key=grant.token, base_url=server.url, org_id=server.org_id) as member:
        # The invitation is accepted by the new user's session; the member
        # then mints a key in the inviting organization (X-Latchkey-Org).
        joined = member.with_options(org_id=None).invitations.accept(token=invitation.token)
        assert joined.id == server.org_id
        own = member.keys.create(name="member's", scopes=["sandbox:read"])
    assert own.key
    assert verdict(lk, own.key) == "VALID"
    lk.members.remove(grant.user.id)
    assert verdict(lk, own.key) == "DISABLED"


def test_rotate_with_a_grace_period_and_without(lk: Latchkey, make_key: MakeKey) -> None:
    old = make_key(scopes=["sandbox:read"])
    assert old.key
    successor = lk.keys.rotate(old.id, grace_period="1h")
    assert successor.key and successor.key != old.key and successor.rotated_from == old.id
    assert verdict(lk, old.key) == "VALID", "the old key works during the grace period"
    assert verdict(lk, successor.key) == "VALID"
    third = lk.keys.rotate(successor.id, name="third")
    assert third.name == "third" and third.key
    assert verdict(lk, successor.key) == "REVOKED"
    assert lk.keys.get(successor.id).rotated_to == third.id


def test_revoke_then_delete(lk: Latchkey, make_key: MakeKey) -> None:
    k = make_key()
    assert lk.keys.revoke(k.id).status == "revoked"
    assert lk.keys.delete(k.id) is None
    with pytest.raises(NotFoundError):
        lk.keys.get(k.id)


def test_list_follows_the_cursor_across_pages(lk: Latchkey, make_key: MakeKey) -> None:
    project = lk.projects.create(name=f"paging {uuid.uuid4().hex[:6]}")
    made = [make_key(name=f"page key {i}", project_id=project.id).id for i in range(5)]
    first = lk.keys.list(project_id=project.id, limit=2)
    assert isinstance(first, SyncPage)
    assert len(first.data) == 2 and first.has_next_page()
    pages = list(first.iter_pages())
    assert [len(p.data) for p in pages] == [2, 2, 1]
    assert not pages[-1].has_next_page()
    everything = [k.id for k in lk.keys.list(project_id=project.id, limit=2)]
    assert everything == list(reversed(made)), "every key once, newest first"
    assert all(isinstance(k, ApiKeyView) for k in lk.keys.list(all_org=True, limit=100))


def test_usage_counts_verifications_by_code(lk: Latchkey, make_key: MakeKey) -> None:
    k = make_key(scopes=["sandbox:read"])
    assert k.key
    lk.keys.verify(key=k.key)
    lk.keys.verify(key=k.key, scopes=["sandbox:write"])
    deadline = time.monotonic() + 15
    while True:
        days = lk.keys.usage(k.id, days=1)
        counts = days[-1].counts if days else {}
        if counts.get("VALID") == 1 and counts.get("INSUFFICIENT_SCOPE") == 1:
            break
        assert time.monotonic() < deadline, f"usage never showed both verifications: {days}"
        time.sleep(0.3)
    assert days[-1].total == 2


def test_import_by_hash_then_export_without_plaintexts(lk: Latchkey) -> None:
    plaintext = "sk-home." + secrets.token_urlsafe(24)
    digest = hashlib.sha256(plaintext.encode()).digest()
    done = lk.keys.import_hashes(
        keys=[
            {
                "hash": {"algorithm": "sha256", "encoding": "base64url", "value": base64.urlsafe_b64encode(digest).decode().rstrip("=")},
                "prefix": "sk-home",
                "name": "home-grown",
                "scopes": ["org:read"],
                "externalId": "row-17",
            }
        ]
    )
    assert done.imported == 1 and len(done.ids) == 1
    assert verdict(lk, plaintext) == "VALID"
    got = lk.keys.get(done.ids[0])
    assert (got.imported, got.key_prefix, got.key_hint, got.external_id) == (True, "sk-home", "", "row-17")

    lines = lk.keys.export(encoding="hex")
    mine = [line for line in lines if line.id == got.id]
    assert len(mine) == 1 and mine[0].hash.value == digest.hex() and mine[0].imported
    assert len(lines) >= 2 and plaintext[8:] not in repr(lines)

    # All or nothing: a bad hash refuses the import, naming the key.
    with pytest.raises(BadRequestError) as refused:
        lk.keys.import_hashes(
            keys=[
                {"hash": {"algorithm": "sha256", "encoding": "hex", "value": hashlib.sha256(b"x" * 20).hexdigest()}, "name": "a", "scopes": []},
                {"hash": {"algorithm": "sha256", "encoding": "hex", "value": "abcd"}, "name": "b", "scopes": []},
            ]
        )
    assert refused.value.message.startswith("keys[1]: ")
    assert verdict(lk, "x" * 20) == "NOT_FOUND"


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch, server: Server) -> None:
    monkeypatch.setenv("LATCHKEY_API_KEY", server.admin_key)
    monkeypatch.setenv("LATCHKEY_API_URL", server.url)
    with Latchkey() as lk:
        assert lk.me().org.id == server.org_id
    monkeypatch.delenv("LATCHKEY_API_KEY")
    monkeypatch.delenv("LATCHKEY_API_URL")
    monkeypatch.setenv("RUNTOOLS_API_KEY", server.admin_key)
    monkeypatch.setenv("RUNTOOLS_API_URL", server.url)
    with Latchkey(env_prefix="RUNTOOLS") as rt:
        assert (rt.api_key, rt.base_url) == (server.admin_key, server.url)
        assert rt.me().key_id is not None
    # Arguments win over the environment; the default server is the local one.
    explicit = Latchkey(api_key="lk_live_explicit", base_url="http://127.0.0.1:1", env_prefix="RUNTOOLS")
    assert (explicit.api_key, explicit.base_url) == ("lk_live_explicit", "http://127.0.0.1:1")
    monkeypatch.delenv("RUNTOOLS_API_URL")
    assert Latchkey(env_prefix="RUNTOOLS").base_url == "http://127.0.0.1:7420"
    assert server.admin_key not in repr(Latchkey(env_prefix="RUNTOOLS"))
