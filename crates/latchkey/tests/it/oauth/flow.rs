//! The connect flow: a whole connect, only the person who asked can finish
//! it (the authorization page and the callback), a state used once, an
//! expired connect, the provider's refusal, and a reconnect of the same
//! account updating its connection in place.

use super::*;
use crate::db::Db;

#[tokio::test]
async fn a_person_connects_an_account_which_is_listed_as_their_default_with_its_scopes() {
    let o = OAuth::start().await;
    let ana = o.member("member").await;
    let sub = o.account_at(&o.octo_client).await;
    let (request, url) =
        started(&ana.api, "octo", Ask { scopes: Some(&["repo", "read:user", "gist"]), shared: false }).await;
    assert!(url.starts_with(&format!("{}/v1/oauth/connect/{request}/authorize?state=", o.server.url)), "{url}");
    let pending = poll(&ana.api, &request).await;
    assert_eq!(
        (pending["status"].as_str(), pending["provider"].as_str()),
        (Some("pending"), Some("octo")),
        "{pending}"
    );
    let expires = crate::common::ms(&pending["expiresAt"]) - crate::common::now_ms();
    assert!((9 * 60_000..=10 * 60_000).contains(&expires), "ten minutes: {expires}");

    // latchkey's page sends the browser to the provider with the state,
    // PKCE S256, the scopes and the one callback.
    let (status, _, location) = page(&ana.browser, &url).await;
    assert_eq!(status, 303);
    let to = Url::parse(location.as_deref().unwrap()).unwrap();
    let q: std::collections::HashMap<_, _> = to.query_pairs().into_owned().collect();
    assert!(to.as_str().starts_with(&idp().oauth_endpoints().authorize), "{to}");
    assert_eq!(q["client_id"], o.octo_client);
    assert_eq!(q["redirect_uri"], callback_of(&o.server));
    assert_eq!(q["scope"], "repo read:user gist");
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["state"], Url::parse(&url).unwrap().query_pairs().next().unwrap().1);
    let callback = to_callback(&ana.browser, to.as_str()).await;
    let (status, text, _) = page(&ana.browser, callback.as_str()).await;
    assert_eq!(status, 200, "{text}");
    let label = format!("{sub}@octo.example");
    assert!(text.contains(&format!("Connected Octo account {label}. You can close this window.")), "{text}");
    assert!(text.contains("href=\"/dashboard/connected-apps\""), "{text}");

    let done = poll(&ana.api, &request).await;
    assert_eq!(done["status"], "completed", "{done}");
    let id = done["connectionId"].as_str().unwrap();
    assert!(id.starts_with("ocn_"), "{done}");
    let list = connections(&ana.api, "").await;
    assert_eq!(list.len(), 1, "{list:?}");
    let c = find(&list, id);
    assert_eq!(c["provider"], "octo");
    assert_eq!((c["accountId"].as_str(), c["accountLabel"].as_str()), (Some(sub.as_str()), Some(label.as_str())));
    assert_eq!((c["owner"].as_str(), c["ownerUserId"].as_str()), (Some("user"), Some(ana.user_id())));
    assert_eq!((c["isDefault"].as_bool(), c["status"].as_str()), (Some(true), Some("active")));
    assert_eq!(c["requestedScopes"], json!(["repo", "read:user", "gist"]));
    let mut granted: Vec<&str> = c["grantedScopes"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
    granted.sort_unstable();
    assert_eq!(granted, ["read:user", "repo"], "the provider granted what it knows: {c}");
    let expires = crate::common::ms(&c["expiresAt"]) - crate::common::now_ms();
    assert!((3_500_000..=3_600_000).contains(&expires), "the IdP's hour: {expires}");
    assert_eq!(connections(&ana.api, "?provider=octo").await.len(), 1);
    assert!(connections(&ana.api, "?provider=plain").await.is_empty());

    let events = audit_events(&o.server).await;
    let e = events.iter().find(|e| e["action"] == "oauth.connection.connect").expect("audited");
    assert_eq!((e["target"]["id"].as_str(), e["actor"]["id"].as_str()), (Some(id), Some(ana.user_id())), "{e}");
    assert_eq!(e["details"]["accountLabel"], label.as_str(), "{e}");
    assert_eq!(e["details"]["reconnected"], false, "{e}");
}

#[tokio::test]
async fn only_the_person_who_asked_can_finish_a_connect() {
    let o = OAuth::start().await;
    let (ana, ben, eve) = (o.member("member").await, o.member("admin").await, o.outsider().await);
    o.account_at(&o.octo_client).await;
    let (request, url) = started(&ana.api, "octo", Ask::default()).await;

    // The page: someone else of the organization (an admin, even) is
    // refused; another organization's person finds nothing; without a
    // session, the sign-in page coming back here.
    let (status, text, _) = page(&ben.browser, &url).await;
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("started by someone else") && text.contains("forbidden"), "{text}");
    let (status, text, _) = page(&eve.browser, &url).await;
    assert_eq!(status, 404, "{text}");
    let (status, _, location) = page(&Browser::new(), &url).await;
    assert_eq!(status, 303);
    let here = Url::parse(&url).unwrap();
    let login = here.join(&location.unwrap()).unwrap();
    assert_eq!(login.path(), "/dashboard/login");
    let back = login.query_pairs().find(|(k, _)| k == "return_to").unwrap().1.into_owned();
    assert_eq!(back, format!("{}?{}", here.path(), here.query().unwrap()), "back here once signed in");
    assert_eq!(poll(&ana.api, &request).await["status"], "pending", "nothing changed");

    // The callback: Ana authorized at the provider, but another browser
    // brings the answer back. The connect fails; nothing is stored.
    for (other, status) in [(&ben, 403), (&eve, 403)] {
        let (request, url) = started(&ana.api, "octo", Ask::default()).await;
        let callback = to_callback(&ana.browser, &url).await;
        let (got, text, _) = page(&other.browser, callback.as_str()).await;
        assert_eq!(got, status, "{text}");
        assert!(text.contains("started by someone else"), "{text}");
        let failed = poll(&ana.api, &request).await;
        assert_eq!(failed["status"], "failed", "{failed}");
        assert!(failed["error"].as_str().unwrap().starts_with("forbidden"), "{failed}");
        // Ana's own browser cannot use that answer any more.
        let (got, text, _) = page(&ana.browser, callback.as_str()).await;
        assert_eq!(got, 400, "{text}");
    }
    for who in [&ana, &ben] {
        assert!(connections(&who.api, "").await.is_empty());
    }
    assert!(connections(&ben.api, "?allOrg=true").await.is_empty(), "nothing stored");
    assert!(!audit_events(&o.server).await.iter().any(|e| e["action"] == "oauth.connection.connect"));
    // Nor does anyone else see the request.
    for who in [&ben, &eve] {
        assert_eq!(who.api.get(&format!("/v1/oauth/connect/{request}")).await.status, 404);
    }
}

#[tokio::test]
async fn a_state_is_used_once_and_a_forged_one_finds_nothing() {
    let o = OAuth::start().await;
    let ana = o.member("member").await;
    o.account_at(&o.octo_client).await;
    let (request, url) = started(&ana.api, "octo", Ask::default()).await;
    let callback = to_callback(&ana.browser, &url).await;
    let (status, text, _) = page(&ana.browser, callback.as_str()).await;
    assert_eq!(status, 200, "{text}");
    let (status, text, _) = page(&ana.browser, callback.as_str()).await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("invalid_state"), "{text}");
    assert_eq!(poll(&ana.api, &request).await["status"], "completed", "the replay changed nothing");
    assert_eq!(connections(&ana.api, "").await.len(), 1);
    // The page again, once finished; a link with another state.
    let (status, text, _) = page(&ana.browser, &url).await;
    assert_eq!(status, 400, "{text}");
    let (other, url) = started(&ana.api, "octo", Ask::default()).await;
    let forged = format!("{}x", url);
    let (status, text, _) = page(&ana.browser, &forged).await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("invalid_state"), "{text}");
    let mut cb = callback.clone();
    cb.set_query(Some("code=abc&state=forged-state-0123456789"));
    assert_eq!(page(&ana.browser, cb.as_str()).await.0, 400);
    assert_eq!(poll(&ana.api, &other).await["status"], "pending");
}

#[tokio::test]
async fn an_expired_connect_cannot_be_finished_and_reads_expired() {
    let o = OAuth::start().await;
    let ana = o.member("member").await;
    o.account_at(&o.octo_client).await;
    let db = Db::connect(&o.server).await;
    let expire = |id: String| {
        let db = &db;
        async move {
            let past = crate::common::now_ms() - 1;
            assert_eq!(
                db.exec(&format!("UPDATE oauth_connect_requests SET expires_at = {past} WHERE id = '{id}'")).await,
                1
            );
        }
    };
    // Expired before the page.
    let (request, url) = started(&ana.api, "octo", Ask::default()).await;
    expire(request.clone()).await;
    let (status, text, _) = page(&ana.browser, &url).await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("expired") && text.contains("Connect again"), "{text}");
    assert_eq!(poll(&ana.api, &request).await["status"], "expired");
    // Expired while the person was at the provider.
    let (request, url) = started(&ana.api, "octo", Ask::default()).await;
    let callback = to_callback(&ana.browser, &url).await;
    expire(request.clone()).await;
    let (status, text, _) = page(&ana.browser, callback.as_str()).await;
    assert_eq!(status, 400, "{text}");
    assert_eq!(poll(&ana.api, &request).await["status"], "expired");
    assert!(connections(&ana.api, "").await.is_empty());
    db.close().await;
}

#[tokio::test]
async fn the_provider_refusing_fails_the_connect() {
    let o = OAuth::start().await;
    let ana = o.member("member").await;
    let sub = unique_sub("denier");
    idp()
        .add_user(IdpUser {
            sub: &sub,
            email: "d@octo.example",
            email_verified: true,
            name: "D",
            tamper: None,
            deny: true,
        })
        .await;
    idp().set_default_user_for(&o.octo_client, &sub).await;
    let (request, url) = started(&ana.api, "octo", Ask::default()).await;
    let callback = to_callback(&ana.browser, &url).await;
    assert!(callback.query_pairs().any(|(k, v)| k == "error" && v == "access_denied"), "{callback}");
    let (status, text, _) = page(&ana.browser, callback.as_str()).await;
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("access_denied") && text.contains("Octo refused the connection"), "{text}");
    assert!(text.contains("/dashboard/connected-apps?connect=octo"), "a link to connect again: {text}");
    let failed = poll(&ana.api, &request).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert!(failed["error"].as_str().unwrap().starts_with("access_denied"), "{failed}");
    assert!(failed["connectionId"].is_null());
    assert!(connections(&ana.api, "").await.is_empty());
}

#[tokio::test]
async fn reconnecting_an_account_updates_its_connection_in_place() {
    let o = OAuth::start().await;
    let ana = o.member("member").await;
    o.account_at(&o.octo_client).await;
    let first = connect(&ana, "octo", Ask { scopes: Some(&["read:user"]), shared: false }).await;
    let before = connections(&ana.api, "").await;
    let again = connect(&ana, "octo", Ask { scopes: Some(&["repo", "read:user"]), shared: false }).await;
    assert_eq!(again, first, "the same account keeps its connection");
    let after = connections(&ana.api, "").await;
    assert_eq!(after.len(), 1, "{after:?}");
    let (b, a) = (find(&before, &first), find(&after, &first));
    assert_eq!(b["requestedScopes"], json!(["read:user"]));
    assert_eq!(a["requestedScopes"], json!(["repo", "read:user"]));
    assert_eq!((a["createdAt"].clone(), a["isDefault"].as_bool()), (b["createdAt"].clone(), Some(true)));
    let events = audit_events(&o.server).await;
    let connects: Vec<&Value> = events.iter().filter(|e| e["action"] == "oauth.connection.connect").collect();
    assert_eq!(connects.len(), 2);
    assert!(connects.iter().all(|e| e["target"]["id"] == first.as_str()), "{connects:?}");
    assert_eq!(connects[0]["details"]["reconnected"], true);

    // Without userinfo, a provider has one account per owner: its own id and name.
    o.account_at(&o.plain_client).await;
    let plain = connect(&ana, "plain", Ask::default()).await;
    let c = find(&connections(&ana.api, "?provider=plain").await, &plain).clone();
    assert_eq!((c["accountId"].as_str(), c["accountLabel"].as_str()), (Some("plain"), Some("Plain")), "{c}");
    assert_eq!(connect(&ana, "plain", Ask::default()).await, plain);
}
