//! Linking identities from the dashboard, signing in with them, unlinking.

use super::*;

/// A dashboard session in `browser` for `email` with [`PASSWORD`].
async fn dashboard_sign_in(browser: &Browser, server: &TestServer, email: &str) {
    let page = browser.get(&format!("{}/dashboard/login", server.url)).await.response.text().await.unwrap();
    let csrf = field(&page, "csrf");
    let done = browser
        .post_form(
            &format!("{}/dashboard/login", server.url),
            &[("csrf", &csrf), ("email", email), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(done.response.status(), 200);
    assert!(!done.visited.last().unwrap().path().ends_with("/login"), "signed in: {:?}", done.visited);
}

/// The value of the first hidden input `name` of a page.
fn field(page: &str, name: &str) -> String {
    let at = page.find(&format!("name=\"{name}\" value=\"")).unwrap_or_else(|| panic!("no {name} in {page}"));
    let rest = &page[at + name.len() + 15..];
    rest[..rest.find('"').unwrap()].to_owned()
}

/// Starts linking `corp` from the account page of `browser`'s session;
/// returns the callback the provider sends back to.
async fn start_linking(browser: &Browser, server: &TestServer, sub: &str) -> Url {
    let page = browser.get(&format!("{}/dashboard/account", server.url)).await.response.text().await.unwrap();
    assert!(page.contains("Link Corp SSO"), "{page}");
    let csrf = field(&page, "csrf");
    let r = browser
        .client()
        .post(format!("{}/dashboard/account/link", server.url))
        .header("origin", &server.url)
        .form(&[("csrf", csrf.as_str()), ("provider", "corp")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    // The provider signs in `sub` (its login_hint is not sent when linking:
    // the client's default user stands in for the person at the provider).
    let _ = sub;
    let to = r.headers()["location"].to_str().unwrap().to_owned();
    to_callback(browser, &to).await
}

#[tokio::test]
async fn a_signed_in_person_links_an_identity_signs_in_with_it_and_unlinks_it() {
    let sso = Sso::start("").await;
    let dana = signup(&sso.server, "dana@example.com", "Dana's").await;
    let sub = sso.person("dana@corp.example", true, None).await;
    idp().set_default_user_for(&sso.client_id, &sub).await;
    let browser = Browser::new();
    dashboard_sign_in(&browser, &sso.server, "dana@example.com").await;
    let callback = start_linking(&browser, &sso.server, &sub).await;
    let linked = finish(&browser, &callback, true).await;
    assert_eq!(
        (linked.status, linked.location.as_deref()),
        (303, Some("/dashboard/account?done=linked")),
        "{}",
        linked.text
    );
    assert!(linked.session.is_none(), "linking keeps the session it has");
    let api = sso.server.with_bearer(&dana.token);
    let list = identities(&api).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["subject"], sub.as_str());
    let page =
        browser.get(&format!("{}/dashboard/account?done=linked", sso.server.url)).await.response.text().await.unwrap();
    assert!(page.contains("Identity linked.") && page.contains(&sub));

    // Now it signs dana in.
    let token = sign_in(&sso, &sub).await.signed_in();
    assert_eq!(me(&sso, &token).await["user"]["id"], dana.user_id.as_str());

    // Someone else cannot link the same identity.
    let _erin = signup(&sso.server, "erin@example.com", "Erin's").await;
    let other = Browser::new();
    dashboard_sign_in(&other, &sso.server, "erin@example.com").await;
    let callback = start_linking(&other, &sso.server, &sub).await;
    let refused = finish(&other, &callback, false).await;
    assert_eq!((refused.status, refused.code()), (409, "identity_linked_elsewhere"), "{}", refused.text);

    // Linking completes only for the person who asked, still signed in.
    let second = sso.person("dana2@corp.example", true, None).await;
    idp().set_default_user_for(&sso.client_id, &second).await;
    let callback = start_linking(&browser, &sso.server, &second).await;
    let page = browser.get(&format!("{}/dashboard/account", sso.server.url)).await.response.text().await.unwrap();
    let csrf = field(&page, "csrf");
    browser
        .client()
        .post(format!("{}/dashboard/logout", sso.server.url))
        .header("origin", &sso.server.url)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    let refused = finish(&browser, &callback, false).await;
    assert_eq!((refused.status, refused.code()), (403, "link_session_mismatch"), "{}", refused.text);
    assert_eq!(identities(&api).await.len(), 1);

    // Unlinking: a key may not; another person's id is not found; dana may.
    let id = list[0]["id"].as_str().unwrap().to_owned();
    let as_key = sso.server.admin().delete(&format!("/v1/me/identities/{id}")).await;
    assert_eq!(as_key.status, 403, "{}", as_key.text);
    let erin = sso.server.with_bearer(&_erin.token);
    assert_eq!(erin.delete(&format!("/v1/me/identities/{id}")).await.status, 404);
    assert_eq!(erin.delete("/v1/me/identities/not-an-id").await.status, 404);
    let gone = api.delete(&format!("/v1/me/identities/{id}")).await;
    assert_eq!(gone.status, 204, "{}", gone.text);
    assert!(identities(&api).await.is_empty());
    let actions: Vec<String> = {
        let r = api.get("/v1/audit-events?limit=100").await;
        r.body["data"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap().to_owned()).collect()
    };
    assert!(
        actions.contains(&"identity.link".to_owned()) && actions.contains(&"identity.unlink".to_owned()),
        "{actions:?}"
    );
    // And the identity no longer signs dana in.
    assert_eq!(sign_in(&sso, &sub).await.code(), "no_account");
}

#[tokio::test]
async fn the_last_way_to_sign_in_cannot_be_unlinked() {
    let sso = Sso::start(JIT).await;
    let sub = sso.person("only@corp.example", true, None).await;
    let token = sign_in(&sso, &sub).await.signed_in();
    let api = sso.server.with_bearer(&token);
    let id = identities(&api).await[0]["id"].as_str().unwrap().to_owned();
    let refused = api.delete(&format!("/v1/me/identities/{id}")).await;
    assert_eq!((refused.status, refused.error_code()), (409, "last_sign_in_method"), "{}", refused.text);
    assert_eq!(identities(&api).await.len(), 1);
}
