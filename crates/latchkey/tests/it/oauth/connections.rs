//! Connections: the default rules, shared connections (admins), who sees
//! and changes whose (members, admins, another tenant, an organization's
//! key), and disconnecting with revocation at the provider.

use latchkey_server::oauth::OAuthProviderConfig;
use latchkey_server::oauth::client::{self, Credentials, TokenError};
use latchkey_server::oidc::ClientSecret;

use super::*;

#[tokio::test]
async fn the_first_connection_is_the_default_and_the_default_moves_and_passes_on() {
    let o = OAuth::start().await;
    let ana = o.member("member").await;
    o.account_at(&o.octo_client).await;
    let first = connect(&ana, "octo", Ask::default()).await;
    o.account_at(&o.octo_client).await;
    let second = connect(&ana, "octo", Ask::default()).await;
    assert_ne!(first, second, "a second account, a second connection");
    let list = connections(&ana.api, "").await;
    assert_eq!(
        (find(&list, &first)["isDefault"].as_bool(), find(&list, &second)["isDefault"].as_bool()),
        (Some(true), Some(false))
    );
    assert_ne!(find(&list, &first)["accountId"], find(&list, &second)["accountId"]);

    let r = ana.api.post_empty(&format!("/v1/oauth/connections/{second}/default")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (r.body["data"]["id"].as_str(), r.body["data"]["isDefault"].as_bool()),
        (Some(second.as_str()), Some(true))
    );
    let list = connections(&ana.api, "").await;
    assert_eq!(
        (find(&list, &first)["isDefault"].as_bool(), find(&list, &second)["isDefault"].as_bool()),
        (Some(false), Some(true))
    );

    // Deleting the default passes it to the other.
    assert_eq!(ana.api.delete(&format!("/v1/oauth/connections/{second}")).await.status, 204);
    let list = connections(&ana.api, "").await;
    assert_eq!(list.len(), 1);
    assert_eq!(find(&list, &first)["isDefault"], true);
    assert_eq!(ana.api.delete(&format!("/v1/oauth/connections/{second}")).await.status, 404, "gone");
    let actions: Vec<Value> = audit_events(&o.server).await.iter().map(|e| e["action"].clone()).collect();
    assert!(
        actions.contains(&json!("oauth.connection.set_default")) && actions.contains(&json!("oauth.connection.delete"))
    );

    // Defaults are per owner: another member's first connection is theirs.
    let ben = o.member("member").await;
    let bens = connect(&ben, "octo", Ask::default()).await;
    assert_eq!(find(&connections(&ben.api, "").await, &bens)["isDefault"], true);
    assert_eq!(find(&connections(&ana.api, "").await, &first)["isDefault"], true);
}

#[tokio::test]
async fn shared_connections_are_made_and_changed_by_admins_and_seen_by_every_member() {
    let o = OAuth::start().await;
    let (admin, ana) = (o.member("admin").await, o.member("member").await);
    o.account_at(&o.octo_client).await;
    let r = start_connect(&ana.api, "octo", Ask { scopes: None, shared: true }).await;
    assert_eq!((r.status, r.error_code()), (403, "forbidden"), "{}", r.text);

    let shared = connect(&admin, "octo", Ask { scopes: None, shared: true }).await;
    let own = connect(&ana, "octo", Ask::default()).await;
    for who in [&admin, &ana] {
        let c = find(&connections(&who.api, "").await, &shared).clone();
        assert_eq!(
            (c["owner"].as_str(), c["ownerUserId"].is_null(), c["isDefault"].as_bool()),
            (Some("org"), true, Some(true)),
            "{c}"
        );
    }
    // An organization-owned key sees the shared one only.
    let org_key = o.server.with_key(&org_key(&o).await);
    let list = connections(&org_key, "").await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["id"], shared.as_str());
    assert!(connections(&admin.api, "").await.iter().all(|c| c["id"] != own.as_str()), "Ana's is hers");

    // A member may neither make it the default nor disconnect it.
    for r in [
        ana.api.post_empty(&format!("/v1/oauth/connections/{shared}/default")).await,
        ana.api.delete(&format!("/v1/oauth/connections/{shared}")).await,
    ] {
        assert_eq!((r.status, r.error_code()), (403, "forbidden"), "{}", r.text);
    }
    assert_eq!(admin.api.post_empty(&format!("/v1/oauth/connections/{shared}/default")).await.status, 200);
    assert_eq!(admin.api.delete(&format!("/v1/oauth/connections/{shared}")).await.status, 204);
    assert_eq!(connections(&ana.api, "").await.len(), 1, "Ana keeps her own");
}

#[tokio::test]
async fn members_see_and_change_only_their_own_and_other_tenants_see_nothing() {
    let o = OAuth::start().await;
    let (admin, ana, ben, eve) =
        (o.member("admin").await, o.member("member").await, o.member("member").await, o.outsider().await);
    o.account_at(&o.octo_client).await;
    let (request, _) = started(&ana.api, "octo", Ask::default()).await;
    let anas = connect(&ana, "octo", Ask::default()).await;

    // Ben, a member: Ana's connection does not exist for him, and every
    // member's list is for admins.
    assert!(connections(&ben.api, "").await.is_empty());
    for r in [
        ben.api.delete(&format!("/v1/oauth/connections/{anas}")).await,
        ben.api.post_empty(&format!("/v1/oauth/connections/{anas}/default")).await,
        ben.api.get(&format!("/v1/oauth/connect/{request}")).await,
    ] {
        assert_eq!((r.status, r.error_code()), (404, "not_found"), "{}", r.text);
    }
    let r = ben.api.get("/v1/oauth/connections?allOrg=true").await;
    assert_eq!((r.status, r.error_code()), (403, "forbidden"), "{}", r.text);

    // Another organization's admin: nothing, and 404 on everything.
    assert!(connections(&eve.api, "?allOrg=true").await.is_empty());
    for r in [
        eve.api.delete(&format!("/v1/oauth/connections/{anas}")).await,
        eve.api.post_empty(&format!("/v1/oauth/connections/{anas}/default")).await,
        eve.api.get(&format!("/v1/oauth/connect/{request}")).await,
    ] {
        assert_eq!((r.status, r.error_code()), (404, "not_found"), "{}", r.text);
    }
    // Nor an admin of Ana's organization sees her connect request.
    assert_eq!(admin.api.get(&format!("/v1/oauth/connect/{request}")).await.status, 404);

    // An admin lists every member's with allOrg, and may act on them.
    assert!(connections(&admin.api, "").await.is_empty());
    let all = connections(&admin.api, "?allOrg=true").await;
    assert_eq!(find(&all, &anas)["ownerUserId"], ana.user_id());
    assert_eq!(admin.api.post_empty(&format!("/v1/oauth/connections/{anas}/default")).await.status, 200);
    assert_eq!(connections(&ana.api, "").await.len(), 1, "still Ana's");

    // An organization-owned key has no person to connect for.
    let r = start_connect(&o.server.with_key(&org_key(&o).await), "octo", Ask::default()).await;
    assert_eq!((r.status, r.error_code()), (403, "forbidden"), "{}", r.text);
    // A member's key holding oauth:write connects for its owner.
    let (_, key) =
        TestServer::create_key(&ana.api, json!({"name": "oauth", "scopes": ["oauth:read", "oauth:write"]})).await;
    let keyed = connect_as(&o.server.with_key(&key), &ana.browser, "octo", Ask::default()).await;
    assert_eq!(keyed, anas, "the same person's same account");
    // A key without oauth:write may not.
    let (_, narrow) = TestServer::create_key(&ana.api, json!({"name": "ro", "scopes": ["oauth:read"]})).await;
    let r = start_connect(&o.server.with_key(&narrow), "octo", Ask::default()).await;
    assert_eq!((r.status, r.error_code()), (403, "insufficient_scope"), "{}", r.text);

    assert_eq!(admin.api.delete(&format!("/v1/oauth/connections/{anas}")).await.status, 204);
    assert!(connections(&ana.api, "").await.is_empty());
}

/// A new organization-owned key holding `oauth:read` and `oauth:write`.
async fn org_key(o: &OAuth) -> String {
    let body = json!({"name": "org", "scopes": ["oauth:read", "oauth:write"], "owner": "org"});
    TestServer::create_key(&o.server.admin(), body).await.1
}

/// The `octo` provider as latchkey's client library sees it, with its
/// catalog credentials (to try the grant's tokens at the IdP directly).
fn octo(o: &OAuth) -> (OAuthProviderConfig, Credentials) {
    let ep = idp().oauth_endpoints();
    let p = OAuthProviderConfig {
        id: "octo".into(),
        display_name: "Octo".into(),
        authorize_url: ep.authorize,
        token_url: ep.token,
        revocation_url: Some(ep.revocation),
        userinfo_url: Some(ep.user),
        userinfo_id_field: "sub".into(),
        userinfo_label_field: "preferred_username".into(),
        scopes: vec!["repo".into(), "read:user".into()],
        scope_separator: " ".into(),
        pkce: true,
        client_id: None,
        client_secret: None,
    };
    (p, Credentials { client_id: o.octo_client.clone(), client_secret: ClientSecret::new(CATALOG_SECRET) })
}

#[tokio::test]
async fn disconnecting_revokes_the_grant_at_the_provider_and_a_failure_there_does_not_keep_it() {
    let o = OAuth::start().await;
    let ana = o.member("member").await;
    o.account_at(&o.octo_client).await;
    let id = connect(&ana, "octo", Ask::default()).await;
    let tokens = idp().issued_tokens(&o.octo_client).await;
    assert_eq!(tokens.len(), 2, "one code exchange: {tokens:?}");
    tokens.iter().for_each(|t| remember_secret(t));
    let (access, refresh) = (&tokens[0], &tokens[1]);
    let (p, creds) = octo(&o);
    let http = client::http_client();
    assert!(client::account(&http, &p, access).await.is_ok(), "the grant works before");

    assert_eq!(ana.api.delete(&format!("/v1/oauth/connections/{id}")).await.status, 204);
    assert!(connections(&ana.api, "").await.is_empty());
    let refused = client::refresh(&http, &p, &creds, refresh, crate::common::now_ms()).await;
    assert!(matches!(refused, Err(TokenError::InvalidGrant(_))), "the grant is gone at the provider: {refused:?}");
    assert!(client::account(&http, &p, access).await.is_err(), "its access token too");
    let events = audit_events(&o.server).await;
    let e = events.iter().find(|e| e["action"] == "oauth.connection.delete").unwrap();
    assert_eq!(
        (e["target"]["id"].as_str(), e["details"]["revokedAtProvider"].as_bool()),
        (Some(id.as_str()), Some(true)),
        "{e}"
    );

    // A provider without a revocation endpoint: disconnected, nothing revoked.
    o.account_at(&o.plain_client).await;
    let plain = connect(&ana, "plain", Ask::default()).await;
    assert_eq!(ana.api.delete(&format!("/v1/oauth/connections/{plain}")).await.status, 204);
    let events = audit_events(&o.server).await;
    let e = events.iter().find(|e| e["action"] == "oauth.connection.delete").unwrap();
    assert_eq!(e["target"]["id"], plain.as_str());
    assert!(e["details"]["revokedAtProvider"].is_null(), "{e}");

    // The provider refusing the revocation (the organization's credentials
    // are now wrong): disconnected all the same, and the event says why.
    let id = connect(&ana, "octo", Ask::default()).await;
    let admin = o.member("admin").await;
    let r = put_client(&admin.api, "octo", &json!({"clientId": o.octo_client, "clientSecret": "not-the-secret-0123"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(ana.api.delete(&format!("/v1/oauth/connections/{id}")).await.status, 204);
    assert!(connections(&ana.api, "").await.is_empty(), "not kept");
    let events = audit_events(&o.server).await;
    let e = events.iter().find(|e| e["action"] == "oauth.connection.delete").unwrap();
    assert_eq!(
        (e["target"]["id"].as_str(), e["details"]["revokedAtProvider"].as_bool()),
        (Some(id.as_str()), Some(false)),
        "{e}"
    );
    assert!(e["details"]["revocationError"].as_str().unwrap().contains("401"), "{e}");
}

#[tokio::test]
async fn a_member_who_leaves_takes_their_connections_along_and_their_grants_are_revoked() {
    let o = OAuth::start().await;
    let (ana, admin) = (o.member("member").await, o.member("admin").await);
    o.account_at(&o.octo_client).await;
    let gone = connect(&ana, "octo", Ask::default()).await;
    let tokens = idp().issued_tokens(&o.octo_client).await;
    tokens.iter().for_each(|t| remember_secret(t));
    o.account_at(&o.octo_client).await;
    let shared = connect(&admin, "octo", Ask { shared: true, ..Ask::default() }).await;
    let (p, _) = octo(&o);
    let http = client::http_client();
    assert!(client::account(&http, &p, &tokens[0]).await.is_ok(), "the grant works before");

    let r = admin.api.delete(&format!("/v1/members/{}", ana.user_id())).await;
    assert_eq!(r.status, 204, "{}", r.text);
    let all = connections(&admin.api, "?allOrg=true").await;
    assert!(all.iter().all(|c| c["id"] != gone.as_str()), "{all:?}");
    find(&all, &shared);
    // Nothing hands its token out any more…
    let service = o.server.with_key(&o.server.service_key(&["oauth:token"]));
    let r = service.post("/v1/oauth/token", json!({"provider": "octo", "connectionId": gone})).await;
    assert_eq!((r.status, r.error_code()), (404, "not_connected"), "{}", r.text);
    // … and the provider revoked the grant (after the answer).
    let revoked = crate::common::eventually(std::time::Duration::from_secs(10), || {
        let (http, p, token) = (http.clone(), p.clone(), tokens[0].clone());
        async move { client::account(&http, &p, &token).await.is_err() }
    })
    .await;
    assert!(revoked, "the departed member's grant still works at the provider");
    let events = audit_events(&o.server).await;
    let e = events.iter().find(|e| e["action"] == "member.remove").unwrap();
    assert_eq!(e["details"]["oauthConnectionsDeleted"], 1, "{e}");
}
