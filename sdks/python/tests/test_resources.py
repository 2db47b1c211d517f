"""The other resources against a live latchkey: each generated method
reaches its route and reads its answer (the shapes are the contract's)."""

from __future__ import annotations

import uuid

import pytest

from latchkey import AuthenticationError, Latchkey, NotFoundError, PermissionDeniedError
from support import Server

from conftest import MakeKey

SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOsQ6wMTZTTeutT6MDFusAY+4v7VxeoeWQMdLIP7kV/t sdk-test"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_me_orgs_members_scopes_and_audit(lk: Latchkey, server: Server) -> None:
    me = lk.me()
    assert (me.org.id, me.auth_type, me.role) == (server.org_id, "api_key", "admin")
    org = lk.orgs.get(server.org_id)
    assert org.id == server.org_id
    assert [o.id for o in lk.orgs.list()] == [server.org_id]
    updated = lk.orgs.update(server.org_id, members_see_all_keys=False)
    assert updated.members_see_all_keys is False
    admin = next(m for m in lk.members.list() if m.user_id == server.user_id)
    assert admin.role == "admin"
    assert "keys:verify" in {s.scope for s in lk.scopes.list()}
    project = lk.projects.create(name=unique("audited"))
    events = list(lk.audit_events.list(target_id=project.id))
    assert [e.action for e in events] == ["project.create"]
    assert events[0].actor.type in ("key", "api_key")


def test_projects(lk: Latchkey) -> None:
    p = lk.projects.create(name=unique("proj"), description="first")
    assert lk.projects.get(p.id).description == "first"
    assert lk.projects.update(p.id, description=None).description is None
    assert p.id in {x.id for x in lk.projects.list()}
    lk.projects.delete(p.id)
    with pytest.raises(NotFoundError):
        lk.projects.get(p.id)


def test_secrets(lk: Latchkey) -> None:
    name = unique("SDK").upper().replace("-", "_")
    created = lk.secrets.set(name, value="s3cret value", category="provider")
    assert (created.name, created.version, created.scope) == (name, 1, "user")
    assert "s3cret value" not in repr(lk.secrets.reveal(name))
    assert lk.secrets.reveal(name).value == "s3cret value"
    assert lk.secrets.set(name, value="second", category="provider").version == 2
    assert lk.secrets.get(name).version == 2
    assert name in {s.name for s in lk.secrets.list()}
    resolved = lk.secrets.resolve(names=f"{name},NOPE_{name}")
    assert [s.value for s in resolved.secrets] == ["second"] and resolved.missing == [f"NOPE_{name}"]
    lk.secrets.delete(name)
    with pytest.raises(NotFoundError):
        lk.secrets.get(name)


def test_ssh_keys(lk: Latchkey) -> None:
    k = lk.ssh_keys.create(name=unique("laptop"), public_key=SSH_KEY)
    assert k.fingerprint.startswith("SHA256:") and k.algorithm == "ssh-ed25519"
    assert lk.ssh_keys.set_default(k.id).is_default is True
    assert k.id in {x.id for x in lk.ssh_keys.list()}
    assert SSH_KEY.rsplit(" ", 1)[0] in lk.ssh_keys.authorized_keys()
    lk.ssh_keys.delete(k.id)
    assert k.id not in {x.id for x in lk.ssh_keys.list()}


def test_people_sessions_and_invitations(lk: Latchkey, server: Server) -> None:
    anonymous = lk.with_options(api_key=None)
    email = f"{unique('person')}@example.com"
    grant = anonymous.auth.signup(email=email, password="correct horse battery", display_name="P", org_name=unique("Org"))
    assert grant.token.startswith("lks_") and grant.token not in repr(grant)
    assert grant.org is not None
    login = anonymous.auth.login(email=email, password="correct horse battery")
    with Latchkey(api_key=login.token, base_url=server.url) as person:
        sessions = list(person.sessions.list())
        assert {s.id for s in sessions} == {grant.session_id, login.session_id}
        assert [s.current for s in sessions if s.id == login.session_id] == [True]
        person.sessions.revoke(grant.session_id)
        second = person.orgs.create(name=unique("Second"))
        assert person.orgs.switch(org_id=second.id).id == second.id
        assert person.me().org.id == second.id
        person.auth.logout()
        with pytest.raises(AuthenticationError):
            person.me()

    invitation = lk.invitations.create(email=f"{unique('invitee')}@example.com", role="member")
    assert invitation.id in {i.id for i in lk.invitations.list()}
    lk.invitations.revoke(invitation.id)
    assert invitation.id not in {i.id for i in lk.invitations.list()}

    # Accepting with the token in the path, and a member's role changed and back.
    email = f"{unique('joiner')}@example.com"
    inv = lk.invitations.create(email=email, role="member")
    joiner = anonymous.auth.signup(email=email, password="correct horse battery", display_name="J", org_name=unique("J"))
    with Latchkey(api_key=joiner.token, base_url=server.url) as person:
        assert inv.token and person.invitations.accept_by_token(inv.token).id == server.org_id
    assert lk.members.update(joiner.user.id, role="admin").role == "admin"
    assert lk.members.update(joiner.user.id, role="member").role == "member"
    lk.members.remove(joiner.user.id)

    # Someone without an account signs up through an invitation: a member of
    # this organization, and of no other.
    email = f"{unique('invitee')}@example.com"
    inv = lk.invitations.create(email=email, role="member")
    assert inv.token
    grant = anonymous.auth.signup_invited(token=inv.token, display_name="I", password="correct horse battery")
    assert grant.org is not None and (grant.org.id, grant.org.role) == (server.org_id, "member")
    with Latchkey(api_key=grant.token, base_url=server.url) as person:
        assert [o.id for o in person.orgs.list()] == [server.org_id]
    lk.members.remove(grant.user.id)


def test_transfer_to_the_organization(lk: Latchkey, make_key: MakeKey) -> None:
    k = make_key()
    assert lk.keys.transfer(k.id, to="org").owner == "org"


def test_forward_auth(lk: Latchkey, make_key: MakeKey, server: Server) -> None:
    k = make_key(scopes=["sandbox:read"])
    assert k.key
    caller = lk.with_options(api_key=k.key)
    identity = caller.auth.check(scope="sandbox:read", forwarded_method="GET", forwarded_uri="/sandboxes")
    assert (identity.key_id, identity.org_id, identity.environment) == (k.id, server.org_id, "live")
    assert caller.auth.check_post(scope="sandbox:read").key_id == k.id
    with pytest.raises(PermissionDeniedError) as e:
        caller.auth.check(scope="sandbox:write")
    assert e.value.code == "insufficient_scope"


def test_runloop_and_runtype_profiles(lk: Latchkey) -> None:
    ak = lk.runloop.create_api_key(name="runloop")
    assert ak.key_secret and ak.key_secret.startswith("ak_")
    rk = lk.runloop.create_restricted_key(
        name="restricted", scopes=[{"resource_type": "RESOURCE_TYPE_DEVBOXES", "access_level": "ACCESS_LEVEL_READ"}]
    )
    assert rk.key_secret and rk.key_secret.startswith("rk_")
    assert rk.scopes and rk.scopes[0].resource_type == "RESOURCE_TYPE_DEVBOXES"
    product = lk.products.create(name=unique("product"))
    assert lk.products.get(product.id).name == product.name
    assert product.id in {p.id for p in lk.products.list()}
    surface = lk.products.surfaces.create(product.id, name="api")
    assert lk.products.surfaces.get(product.id, surface.id).product_id == product.id
    assert [s.id for s in lk.products.surfaces.list(product.id)] == [surface.id]
    key = lk.products.surfaces.create_key(product.id, surface.id, environment="test", scopes=["read:products"])
    assert key.key and key.key.startswith("sk_test_") and key.is_active


def test_health_metrics_and_reference(lk: Latchkey) -> None:
    anonymous = lk.with_options(api_key=None)
    assert anonymous.system.health() == {"status": "ok"}
    assert anonymous.system.readiness()
    assert "latchkey" in anonymous.system.metrics()
    document = anonymous.system.openapi()
    assert document["info"]["title"] == "latchkey" and "/v1/keys/verify" in document["paths"]
    assert "<html" in anonymous.system.api_reference().lower()
