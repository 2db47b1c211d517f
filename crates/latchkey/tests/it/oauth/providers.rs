//! The provider catalog and organizations' own client credentials: set by
//! admins only, the secret never shown again, and used by the next
//! connect in place of the operator's.

use super::*;

#[tokio::test]
async fn the_catalog_lists_what_can_be_connected_in_the_organization() {
    let o = OAuth::start().await;
    let ana = o.member("member").await;
    let r = ana.api.get("/v1/oauth/providers").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let list = r.body["data"].as_array().unwrap();
    let ids: Vec<&str> = list.iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["octo", "plain", "bare"], "the catalog's order");
    assert_eq!(list[0]["displayName"], "Octo");
    assert_eq!(list[0]["defaultScopes"], json!(["repo", "read:user"]));
    let flags = |p: &Value| (p["configured"].as_bool(), p["revokesOnDisconnect"].as_bool(), p["orgClient"].is_null());
    assert_eq!(flags(&list[0]), (Some(true), Some(true), true));
    assert_eq!(flags(&list[1]), (Some(true), Some(false), true));
    assert_eq!(flags(&list[2]), (Some(false), Some(true), true));
    // Nothing to connect with yet at `bare`; nothing at all at an unknown one.
    let r = start_connect(&ana.api, "bare", Ask::default()).await;
    assert_eq!((r.status, r.error_code()), (400, "provider_not_configured"), "{}", r.text);
    let r = start_connect(&ana.api, "nope", Ask::default()).await;
    assert_eq!((r.status, r.error_code()), (404, "not_found"), "{}", r.text);
    // Scopes are checked.
    for bad in [
        json!(["a b"]),
        json!([""]),
        json!(["x".repeat(201)]),
        json!((0..51).map(|i| format!("s{i}")).collect::<Vec<_>>()),
    ] {
        let r = ana.api.post("/v1/oauth/connect", json!({"provider": "octo", "scopes": bad})).await;
        assert_eq!((r.status, r.error_code()), (400, "invalid_request"), "{}", r.text);
    }
}

#[tokio::test]
async fn an_admin_sets_the_organizations_credentials_which_the_next_connect_uses() {
    let o = OAuth::start().await;
    let (admin, ana) = (o.member("admin").await, o.member("member").await);
    let (own_client, own_secret) = (unique_sub("org-app"), unique_sub("org-secret"));
    idp().register_oauth_client(&own_client, &own_secret, &[&callback_of(&o.server)], None).await;
    let body = json!({"clientId": own_client, "clientSecret": own_secret});

    // Members may not; bad input and unknown providers are refused.
    let r = put_client(&ana.api, "bare", &body).await;
    assert_eq!((r.status, r.error_code()), (403, "forbidden"), "{}", r.text);
    assert_eq!(put_client(&admin.api, "nope", &body).await.status, 404);
    for bad in [
        json!({"clientId": ""}),
        json!({"clientId": "x".repeat(257)}),
        json!({"clientId": "ok", "clientSecret": ""}),
        json!({"clientId": "ok", "clientSecret": "s".repeat(4097)}),
        json!({"clientId": "ok", "extra": 1}),
    ] {
        let r = put_client(&admin.api, "bare", &bad).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.text);
    }
    assert!(ana.api.get("/v1/oauth/providers").await.body["data"][2]["orgClient"].is_null(), "nothing stored");

    let r = put_client(&admin.api, "bare", &body).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(!r.text.contains(&own_secret), "the secret is never shown again");
    let view = &r.body["data"];
    assert_eq!((view["id"].as_str(), view["configured"].as_bool()), (Some("bare"), Some(true)));
    assert_eq!(view["orgClient"]["clientId"], own_client.as_str());
    assert_eq!(view["orgClient"]["hasClientSecret"], true);
    let listed = ana.api.get("/v1/oauth/providers").await;
    assert_eq!(listed.body["data"][2]["orgClient"]["hasClientSecret"], true);
    assert!(!listed.text.contains(&own_secret));
    let events = audit_events(&o.server).await;
    let e = events.iter().find(|e| e["action"] == "oauth.client.set").unwrap();
    assert_eq!(
        (e["details"]["clientId"].as_str(), e["details"]["hasClientSecret"].as_bool()),
        (Some(own_client.as_str()), Some(true))
    );
    assert!(!e.to_string().contains(&own_secret), "{e}");

    // The next connect goes through the organization's client: the
    // provider sees that client id, and the grant is that client's.
    let sub = o.account_at(&own_client).await;
    let (_, url) = started(&ana.api, "bare", Ask::default()).await;
    let (status, _, location) = page(&ana.browser, &url).await;
    assert_eq!(status, 303);
    let to = Url::parse(&location.unwrap()).unwrap();
    assert!(to.query_pairs().any(|(k, v)| k == "client_id" && v == own_client), "{to}");
    let id = connect(&ana, "bare", Ask::default()).await;
    assert_eq!(find(&connections(&ana.api, "").await, &id)["accountId"], sub.as_str());
    assert_eq!(idp().issued_tokens(&own_client).await.len(), 2, "one code exchange, by the organization's client");

    // Over the catalog's client too: octo with the organization's own.
    let r = put_client(&admin.api, "octo", &json!({"clientId": own_client, "clientSecret": own_secret})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let (_, url) = started(&ana.api, "octo", Ask::default()).await;
    let location = page(&ana.browser, &url).await.2.unwrap();
    assert!(Url::parse(&location).unwrap().query_pairs().any(|(k, v)| k == "client_id" && v == own_client));

    // Removed: the catalog's client again; `bare` has none.
    let r = ana.api.delete("/v1/oauth/providers/octo").await;
    assert_eq!((r.status, r.error_code()), (403, "forbidden"), "{}", r.text);
    assert_eq!(admin.api.delete("/v1/oauth/providers/octo").await.status, 204);
    assert_eq!(admin.api.delete("/v1/oauth/providers/octo").await.status, 404, "none of its own any more");
    let (_, url) = started(&ana.api, "octo", Ask::default()).await;
    let location = page(&ana.browser, &url).await.2.unwrap();
    assert!(Url::parse(&location).unwrap().query_pairs().any(|(k, v)| k == "client_id" && v == o.octo_client));
    assert_eq!(admin.api.delete("/v1/oauth/providers/bare").await.status, 204);
    let r = start_connect(&ana.api, "bare", Ask::default()).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(audit_events(&o.server).await.iter().any(|e| e["action"] == "oauth.client.delete"));

    // Another organization's admin sees none of it.
    let eve = o.outsider().await;
    let theirs = eve.api.get("/v1/oauth/providers").await;
    assert!(theirs.body["data"].as_array().unwrap().iter().all(|p| p["orgClient"].is_null()), "{}", theirs.text);
}
