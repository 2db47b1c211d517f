//! `POST /v1/oauth/token` (issue 23, points 4 and 5): which connection a
//! tool gets, who may ask (a service key holding the reserved
//! `oauth:token`, nobody else), the errors that name where to connect, and
//! refreshes against the test IdP with short-lived tokens: 50 concurrent
//! callers of an expired token cause exactly one refresh (also across 3
//! nodes on PostgreSQL), rotated refresh tokens are kept, a grant revoked
//! at the provider becomes `needs_reauthorization`, and a provider that is
//! down gets a cooldown while the still-valid token is handed out.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::task::JoinSet;

use super::{Ask, OAuth, Session, audit_events, callback_of, connect, connections, find, put_client};
use crate::common::{Api, ms, now_ms, pg_base, run_cli};
use crate::idp::{IdpStats, idp, unique_sub};

/// A client of the IdP for one test, set as the organization's own
/// credentials for `bare`, whose access tokens live `ttl`: (client id,
/// secret).
pub(super) async fn own_client(o: &OAuth, ttl: Duration) -> (String, String) {
    let (client, secret) = (unique_sub("tok-app"), unique_sub("tok-secret"));
    idp().register_oauth_client(&client, &secret, &[&callback_of(&o.server)], Some(ttl)).await;
    let r = put_client(&o.server.admin(), "bare", &json!({"clientId": client, "clientSecret": secret})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    (client, secret)
}

/// From now on the IdP's access tokens for `client` live `ttl`.
async fn tokens_live(o: &OAuth, client: &str, secret: &str, ttl: Duration) {
    idp().register_oauth_client(client, secret, &[&callback_of(&o.server)], Some(ttl)).await;
}

/// `POST /v1/oauth/token` as `api`: (status, body).
pub(super) async fn token(api: &Api, body: &Value) -> (u16, Value) {
    let r = api.post("/v1/oauth/token", body.clone()).await;
    (r.status, r.body)
}

/// A token answer's access token, after checking the answer's shape.
fn access(status: u16, body: &Value) -> String {
    assert_eq!(status, 200, "{body}");
    let t = &body["data"];
    assert!(t.get("refreshToken").is_none() && !body.to_string().contains("refresh"), "{body}");
    t["accessToken"].as_str().unwrap().to_owned()
}

/// Sleeps until `at` (epoch ms) has passed, plus a little.
pub(super) async fn sleep_past(at: i64) {
    let wait = at - now_ms() + 150;
    if wait > 0 {
        tokio::time::sleep(Duration::from_millis(wait.unsigned_abs())).await;
    }
}

/// A service key of the first organization holding `oauth:token`.
pub(super) fn service(o: &OAuth) -> Api {
    o.server.with_key(&o.server.service_key(&["oauth:token"]))
}

/// Whether the IdP takes `token` at its user endpoint.
async fn works_at_provider(token: &str) -> bool {
    let res = reqwest::Client::new().get(idp().oauth_endpoints().user).bearer_auth(token).send().await.unwrap();
    res.status().is_success()
}

/// A member connected to `bare` with a short-lived token, the
/// organization's own client at the IdP, and the token they got.
struct Expiring {
    member: Session,
    client: String,
    secret: String,
    sub: String,
    connection: String,
    body: Value,
    first: String,
    expires_at: i64,
}

async fn expiring(o: &OAuth, svc: &Api, ttl: Duration) -> Expiring {
    let (client, secret) = own_client(o, ttl).await;
    let sub = o.account_at(&client).await;
    let member = o.member("member").await;
    let connection = connect(&member, "bare", Ask::default()).await;
    let body = json!({"provider": "bare", "userId": member.user_id()});
    let (status, answer) = token(svc, &body).await;
    let first = access(status, &answer);
    assert_eq!(answer["data"]["connectionId"], connection.as_str(), "{answer}");
    let expires_at = ms(&answer["data"]["expiresAt"]);
    Expiring { member, client, secret, sub, connection, body, first, expires_at }
}

/// 50 concurrent token requests for an expired token, spread over `apis`
/// (nodes): exactly one refresh at the provider, and every caller gets
/// the one new token. Prints the figures for the closing note.
async fn fifty_callers(o: &OAuth, apis: &[Api], label: &str) {
    let e = expiring(o, &apis[0], Duration::from_secs(2)).await;
    assert_eq!(idp().stats(&e.client).await, IdpStats { refresh_grants: 0, refresh_grant_errors: 0 });
    // The refreshed token lives an hour: nobody refreshes it again here.
    tokens_live(o, &e.client, &e.secret, Duration::from_secs(3600)).await;
    sleep_past(e.expires_at).await;
    assert!(!works_at_provider(&e.first).await, "the first token has expired at the provider");

    const CALLERS: usize = 50;
    let started = Instant::now();
    let mut calls = JoinSet::new();
    for i in 0..CALLERS {
        let (api, body) = (apis[i % apis.len()].clone(), e.body.clone());
        calls.spawn(async move {
            let t0 = Instant::now();
            let (status, answer) = token(&api, &body).await;
            (access(status, &answer), t0.elapsed())
        });
    }
    let mut got = Vec::new();
    while let Some(done) = calls.join_next().await {
        got.push(done.unwrap());
    }
    let wall = started.elapsed();
    let fresh = &got[0].0;
    assert!(got.iter().all(|(t, _)| t == fresh), "every caller gets the one new token");
    assert_ne!(fresh, &e.first);
    assert_eq!(
        idp().stats(&e.client).await,
        IdpStats { refresh_grants: 1, refresh_grant_errors: 0 },
        "{CALLERS} concurrent callers, one refresh"
    );
    assert!(works_at_provider(fresh).await, "the new token works at the provider");
    let mut latencies: Vec<Duration> = got.iter().map(|(_, d)| *d).collect();
    latencies.sort();
    eprintln!(
        "oauth refresh, {label}: {CALLERS} concurrent callers of an expired token → 1 refresh; all answered in \
         {:.0} ms (per call: median {:.0} ms, max {:.0} ms)",
        wall.as_secs_f64() * 1e3,
        latencies[CALLERS / 2].as_secs_f64() * 1e3,
        latencies[CALLERS - 1].as_secs_f64() * 1e3,
    );
    // Every token the provider issued (the refreshed ones included) is
    // searched for in the server logs by the canary.
    assert!(o.issued_tokens(&[&e.client]).await.len() >= 4);
    // The connection says when the new token expires.
    let list = connections(&e.member.api, "").await;
    assert!(ms(&find(&list, &e.connection)["expiresAt"]) > now_ms() + 3_000_000, "{list:?}");
}

#[tokio::test]
async fn fifty_concurrent_callers_of_an_expired_token_cause_exactly_one_refresh() {
    let o = OAuth::start().await;
    fifty_callers(&o, &[service(&o)], "one node").await;
}

#[tokio::test]
async fn fifty_concurrent_callers_across_three_nodes_cause_exactly_one_refresh() {
    if pg_base().is_none() {
        eprintln!("three nodes share a database in the PostgreSQL pass (LATCHKEY_TEST_DATABASE_URL); skipped here");
        return;
    }
    let o = OAuth::start().await;
    let config = o._config.path().join("latchkey.toml");
    let args = ["--config", config.to_str().unwrap()];
    let (two, three) = (o.server.node(2, &args), o.server.node(3, &args));
    let key = o.server.service_key(&["oauth:token"]);
    let apis = [o.server.with_key(&key), two.with_key(&key), three.with_key(&key)];
    fifty_callers(&o, &apis, "three PostgreSQL nodes").await;
}

#[tokio::test]
async fn rotated_refresh_tokens_are_kept_and_a_provider_outage_cools_down_on_the_valid_token() {
    let o = OAuth::start().await;
    let svc = service(&o);
    let e = expiring(&o, &svc, Duration::from_secs(2)).await;

    // Two refreshes in a row: the IdP rotates the refresh token and revokes
    // the whole grant if a rotated one comes back, so the second works only
    // if the first's new refresh token was stored.
    sleep_past(e.expires_at).await;
    let (status, answer) = token(&svc, &e.body).await;
    let second = access(status, &answer);
    tokens_live(&o, &e.client, &e.secret, Duration::from_secs(4)).await;
    sleep_past(ms(&answer["data"]["expiresAt"])).await;
    let (status, answer) = token(&svc, &e.body).await;
    let third = access(status, &answer);
    assert!(e.first != second && second != third && e.first != third);
    assert_eq!(idp().stats(&e.client).await, IdpStats { refresh_grants: 2, refresh_grant_errors: 0 });
    let expires = ms(&answer["data"]["expiresAt"]);

    // The provider goes down once the token is due (half its 4 s life) but
    // still valid: the caller gets the valid token, and refreshes pause.
    idp().token_outage(&e.client, 60).await;
    sleep_past(expires - 2_000).await;
    let (status, answer) = token(&svc, &e.body).await;
    assert_eq!(access(status, &answer), third, "the still-valid token while the provider is down");
    // Expired, and still cooling down: 503, no new attempt.
    sleep_past(expires).await;
    let (status, answer) = token(&svc, &e.body).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (503, Some("provider_unavailable")), "{answer}");
    idp().token_outage(&e.client, 0).await;
    let (status, answer) = token(&svc, &e.body).await;
    assert_eq!(status, 503, "refreshes wait for the cooldown to end even when the provider is back: {answer}");
    // After the cooldown (5 s from the failed attempt), the next caller
    // refreshes.
    let deadline = Instant::now() + Duration::from_secs(10);
    let fourth = loop {
        let (status, answer) = token(&svc, &e.body).await;
        if status == 200 {
            break access(status, &answer);
        }
        assert!(Instant::now() < deadline, "no refresh after the cooldown: {answer}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(fourth != third && works_at_provider(&fourth).await);
    assert_eq!(idp().stats(&e.client).await, IdpStats { refresh_grants: 3, refresh_grant_errors: 0 });
    // Four grants' tokens, rotated refresh tokens included, for the canary.
    assert!(o.issued_tokens(&[&e.client]).await.len() >= 8);
}

#[tokio::test]
async fn a_grant_revoked_at_the_provider_needs_reauthorization_until_its_owner_connects_again() {
    let o = OAuth::start().await;
    let svc = service(&o);
    let e = expiring(&o, &svc, Duration::from_secs(2)).await;
    assert!(idp().revoke_grant(&e.sub, &e.client).await >= 1);
    sleep_past(e.expires_at).await;

    let (status, answer) = token(&svc, &e.body).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (409, Some("needs_reauthorization")), "{answer}");
    let connect_url = answer["error"]["connectUrl"].as_str().unwrap();
    assert!(connect_url.ends_with("/dashboard/connected-apps?connect=bare"), "{connect_url}");
    let stats = IdpStats { refresh_grants: 1, refresh_grant_errors: 1 };
    assert_eq!(idp().stats(&e.client).await, stats);
    let list = connections(&e.member.api, "").await;
    assert_eq!(find(&list, &e.connection)["status"], "needs_reauthorization", "{list:?}");
    // No retry: the next caller is told at once.
    let (status, _) = token(&svc, &e.body).await;
    assert_eq!(status, 409);
    assert_eq!(idp().stats(&e.client).await, stats, "no second refresh of a refused grant");
    let events = audit_events(&o.server).await;
    assert!(
        events.iter().any(|ev| ev["action"] == "oauth.connection.needs_reauthorization"
            && ev["target"]["id"] == e.connection.as_str()),
        "{events:?}"
    );

    // Connecting the same account again makes the same connection active.
    tokens_live(&o, &e.client, &e.secret, Duration::from_secs(3600)).await;
    assert_eq!(connect(&e.member, "bare", Ask::default()).await, e.connection);
    let (status, answer) = token(&svc, &e.body).await;
    assert!(works_at_provider(&access(status, &answer)).await);
}

#[tokio::test]
async fn tokens_come_from_the_named_connection_else_the_persons_default_else_the_organizations() {
    let o = OAuth::start().await;
    let svc = service(&o);
    let (alice, bob, admin) = (o.member("member").await, o.member("member").await, o.member("admin").await);
    let for_user = |s: &Session| json!({"provider": "octo", "userId": s.user_id()});

    // Nothing connected: 404 naming where to connect.
    let (status, answer) = token(&svc, &for_user(&alice)).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (404, Some("not_connected")), "{answer}");
    assert!(answer["error"]["connectUrl"].as_str().unwrap().ends_with("/dashboard/connected-apps?connect=octo"));

    o.account_at(&o.octo_client).await;
    let alice_first = connect(&alice, "octo", Ask::default()).await;
    o.account_at(&o.octo_client).await;
    let alice_second = connect(&alice, "octo", Ask::default()).await;
    o.account_at(&o.octo_client).await;
    let shared = connect(&admin, "octo", Ask { shared: true, ..Ask::default() }).await;

    let via = |body: Value| {
        let svc = svc.clone();
        async move {
            let r = svc.post("/v1/oauth/token", body).await;
            assert_eq!(r.status, 200, "{}", r.text);
            assert_eq!(r.headers.get("cache-control").map(|v| v.to_str().unwrap()), Some("no-store"));
            r.body["data"]["connectionId"].as_str().unwrap().to_owned()
        }
    };
    // The person's default (their first), by id or email.
    assert_eq!(via(for_user(&alice)).await, alice_first);
    assert_eq!(via(json!({"provider": "octo", "userId": alice.person.email})).await, alice_first);
    // Someone without one of their own, or no one: the organization's.
    assert_eq!(via(for_user(&bob)).await, shared);
    assert_eq!(via(json!({"provider": "octo"})).await, shared);
    // A named connection: the person's other account, or the shared one.
    assert_eq!(
        via(json!({"provider": "octo", "userId": alice.user_id(), "connectionId": alice_second})).await,
        alice_second
    );
    assert_eq!(via(json!({"provider": "octo", "userId": bob.user_id(), "connectionId": shared})).await, shared);
    // … but not another member's, another provider's, or one that does not exist.
    for body in [
        json!({"provider": "octo", "userId": bob.user_id(), "connectionId": alice_first}),
        json!({"provider": "plain", "connectionId": alice_first}),
        json!({"provider": "octo", "connectionId": "ocn_01nosuchconnection0000000000"}),
        json!({"provider": "octo", "connectionId": "not-an-id"}),
    ] {
        let (status, answer) = token(&svc, &body).await;
        assert_eq!((status, answer["error"]["code"].as_str()), (404, Some("not_connected")), "{body}: {answer}");
    }
    // The grant must hold what the tool needs.
    let (status, answer) =
        token(&svc, &json!({"provider": "octo", "userId": alice.user_id(), "scopes": ["repo"]})).await;
    assert_eq!(answer["data"]["grantedScopes"], json!(["repo", "read:user"]), "{answer}");
    access(status, &answer);
    let (status, answer) =
        token(&svc, &json!({"provider": "octo", "userId": alice.user_id(), "scopes": ["repo", "admin:org"]})).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (403, Some("insufficient_scope")), "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains("admin:org"), "{answer}");
    assert!(answer["error"]["connectUrl"].is_string(), "{answer}");
    // Unknown provider or member: 404 not_found.
    for body in [json!({"provider": "nope"}), json!({"provider": "octo", "userId": "nobody@example.com"})] {
        let (status, answer) = token(&svc, &body).await;
        assert_eq!((status, answer["error"]["code"].as_str()), (404, Some("not_found")), "{body}: {answer}");
    }

    // Each token handed out is audited, without the token.
    let events = audit_events(&o.server).await;
    let issued: Vec<&Value> = events.iter().filter(|e| e["action"] == "oauth.token.issue").collect();
    assert!(issued.len() >= 6, "{events:?}");
    assert!(issued.iter().any(|e| e["target"]["id"] == shared.as_str()));
}

#[tokio::test]
async fn only_an_operator_minted_key_gets_tokens() {
    let o = OAuth::start().await;
    let admin = o.member("admin").await;
    o.account_at(&o.octo_client).await;
    let id = connect(&admin, "octo", Ask::default()).await;
    let body = json!({"provider": "octo", "userId": admin.user_id()});

    // The organization admin's session and `*` key, a key of their own with
    // every grantable oauth scope: refused.
    let (_, own) = crate::common::TestServer::create_key(&admin.api, json!({"name": "o", "scopes": ["oauth:*"]})).await;
    for api in [admin.api.clone(), o.server.admin(), o.server.with_key(&own)] {
        let (status, answer) = token(&api, &body).await;
        assert_eq!((status, answer["error"]["code"].as_str()), (403, Some("insufficient_scope")), "{answer}");
    }
    // No API request mints oauth:token, whoever asks.
    for req in [
        json!({"name": "t", "scopes": ["oauth:token"]}),
        json!({"name": "t", "scopes": ["oauth:token"], "owner": "org"}),
    ] {
        let r = o.server.admin().post("/v1/api-keys", req.clone()).await;
        assert_eq!((r.status, r.error_code()), (403, "insufficient_scope"), "{req}: {}", r.text);
    }
    // The operator's service key gets it; another organization's does not
    // see this one's connections.
    let (status, answer) = token(&service(&o), &body).await;
    access(status, &answer);
    let outsider = o.outsider().await;
    let out = run_cli(&[
        "admin",
        "create-service-key",
        "--org",
        &outsider.person.org_id,
        "--scope",
        "oauth:token",
        "--json",
        "--data-dir",
        o.server.data_dir().to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let theirs: Value = serde_json::from_slice(&out.stdout).unwrap();
    let theirs = o.server.with_key(theirs["apiKey"].as_str().unwrap());
    let (status, answer) = token(&theirs, &json!({"provider": "octo", "connectionId": id})).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (404, Some("not_connected")), "{answer}");
    let (status, answer) = token(&theirs, &body).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (404, Some("not_found")), "{answer}");
}
