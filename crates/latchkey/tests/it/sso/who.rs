//! Who signs in: just-in-time accounts, linked identities, email linking,
//! allowed domains, and every bad answer of the provider refused.

use super::*;

#[tokio::test]
async fn an_unknown_person_is_created_just_in_time_and_signs_in_again_as_themselves() {
    let sso = Sso::start(JIT).await;
    let sub = sso.person("pat@corp.example", true, None).await;
    let first = sign_in(&sso, &sub).await;
    let token = first.signed_in();
    assert!(token.starts_with("lks_"), "the same session as a password login");
    assert_eq!(first.location.as_deref(), Some("/dashboard/keys"), "to return_to");
    let who = me(&sso, &token).await;
    assert_eq!(who["user"]["email"], "pat@corp.example");
    assert_eq!(who["user"]["displayName"], "Pat Example");
    assert_eq!(
        (who["org"]["id"].as_str(), who["role"].as_str()),
        (Some(sso.server.admin.org_id.as_str()), Some("member"))
    );
    let linked = identities(&sso.server.with_bearer(&token)).await;
    assert_eq!(linked.len(), 1);
    assert_eq!((linked[0]["provider"].as_str(), linked[0]["providerName"].as_str()), (Some("corp"), Some("Corp SSO")));
    assert_eq!(
        (linked[0]["issuer"].as_str(), linked[0]["subject"].as_str()),
        (Some(idp().issuer.as_str()), Some(sub.as_str()))
    );

    // Again, after the provider changed the person's email: the same
    // account, found by issuer and subject, never by the email.
    idp()
        .add_user(IdpUser {
            sub: &sub,
            email: "pat.renamed@corp.example",
            email_verified: true,
            name: "Pat",
            tamper: None,
            deny: false,
        })
        .await;
    let again = sign_in(&sso, &sub).await.signed_in();
    assert_ne!(again, token, "a new session");
    let who_again = me(&sso, &again).await;
    assert_eq!(who_again["user"]["id"], who["user"]["id"]);
    let linked = identities(&sso.server.with_bearer(&again)).await;
    assert_eq!(linked.len(), 1, "{linked:?}");
    assert_eq!(linked[0]["email"], "pat.renamed@corp.example", "the email the provider gave last");
    assert!(linked[0]["lastUsedAt"].is_string());
    assert_eq!(sso.member_emails().await.iter().filter(|e| e.contains("pat")).count(), 1, "one account");
    let actions = audit_actions(&sso).await;
    assert!(actions.contains(&"user.jit_create".to_owned()), "{actions:?}");
    assert!(actions.iter().filter(|a| *a == "session.create").count() >= 2, "{actions:?}");

    // The dashboard's session: the cookie opens its pages.
    let page = reqwest::Client::new()
        .get(format!("{}/dashboard/account", sso.server.url))
        .header("cookie", format!("latchkey_session={again}"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("Corp SSO") && html.contains(&sub), "the Sign-in methods page lists the identity");
}

#[tokio::test]
async fn without_jit_or_linking_an_unknown_person_has_no_account() {
    let sso = Sso::start("").await;
    let sub = sso.person("nobody@corp.example", true, None).await;
    let refused = sign_in(&sso, &sub).await;
    assert_eq!((refused.status, refused.code()), (403, "no_account"), "{}", refused.text);
    assert!(refused.session.is_none());
    assert!(!sso.member_emails().await.contains(&"nobody@corp.example".to_owned()));
    // A browser gets the same refusal as a page.
    let browser = Browser::new();
    let start = format!("{}/v1/auth/oidc/corp/start?login_hint={sub}", sso.server.url);
    let callback = to_callback(&browser, &start).await;
    let page = finish(&browser, &callback, true).await;
    assert_eq!(page.status, 403);
    assert!(page.text.contains("no_account") && page.text.contains("<html"), "{}", page.text);
}

#[tokio::test]
async fn email_linking_needs_it_switched_on_and_the_email_verified_on_both_sides() {
    // Off (the default): the operator's admin, whose email is verified,
    // is not found by email.
    let off = Sso::start("").await;
    let sub = off.person("ada@example.com", true, None).await;
    assert_eq!(sign_in(&off, &sub).await.code(), "no_account");

    let on = Sso::start("link_by_verified_email = true").await;
    // The provider did not verify it: no.
    let unverified = on.person("ada@example.com", false, None).await;
    assert_eq!(sign_in(&on, &unverified).await.code(), "no_account");
    // Someone who signed themselves up (latchkey never verified that email): no.
    let self_made = signup(&on.server, "sam@example.com", "Sam's").await;
    let sam = on.person("sam@example.com", true, None).await;
    assert_eq!(sign_in(&on, &sam).await.code(), "no_account");
    assert!(identities(&on.server.with_bearer(&self_made.token)).await.is_empty());
    // Both verified: linked, and signed in as the admin.
    let ada = on.person("ada@example.com", true, None).await;
    let token = sign_in(&on, &ada).await.signed_in();
    let who = me(&on, &token).await;
    assert_eq!(
        (who["user"]["id"].as_str(), who["role"].as_str()),
        (Some(on.server.admin.user_id.as_str()), Some("admin"))
    );
    let linked = identities(&on.server.with_bearer(&token)).await;
    assert_eq!(linked.len(), 1);
    assert_eq!(linked[0]["subject"], ada.as_str());
    assert!(audit_actions(&on).await.contains(&"identity.link".to_owned()));

    // With just-in-time accounts too, an unverified local account with the
    // email is not taken over: a conflict that says what to do.
    let both = Sso::start(&format!("link_by_verified_email = true\n{JIT}")).await;
    let self_made = signup(&both.server, "sue@example.com", "Sue's").await;
    let sue = both.person("sue@example.com", true, None).await;
    let refused = sign_in(&both, &sue).await;
    assert_eq!((refused.status, refused.code()), (409, "account_exists"), "{}", refused.text);
    assert!(identities(&both.server.with_bearer(&self_made.token)).await.is_empty());
}

#[tokio::test]
async fn only_verified_emails_of_the_allowed_domains_sign_in() {
    let sso = Sso::start(&format!("allowed_email_domains = [\"corp.example\"]\n{JIT}")).await;
    for (email, verified) in
        [("eve@evil.example", true), ("eve@corp.example.evil.example", true), ("eve@corp.example", false)]
    {
        let sub = sso.person(email, verified, None).await;
        let refused = sign_in(&sso, &sub).await;
        assert_eq!((refused.status, refused.code()), (403, "email_domain_not_allowed"), "{email}: {}", refused.text);
        assert!(refused.session.is_none());
        assert!(!sso.member_emails().await.contains(&email.to_owned()), "{email} was created");
    }
    let sub = sso.person("kim@CORP.example", true, None).await;
    let token = sign_in(&sso, &sub).await.signed_in();
    assert_eq!(me(&sso, &token).await["user"]["email"], "kim@corp.example");
}

#[tokio::test]
async fn every_bad_answer_of_the_provider_is_refused_and_creates_nothing() {
    let sso = Sso::start(JIT).await;
    let cases = [
        ("foreign_key", 401, "invalid_signature"),
        ("alg_none", 401, "invalid_signature"),
        ("wrong_aud", 401, "invalid_audience"),
        ("wrong_nonce", 401, "invalid_nonce"),
        ("expired", 401, "token_expired"),
        ("wrong_iss", 401, "issuer_mismatch"),
        ("iss_param", 400, "issuer_mismatch"),
    ];
    for (tamper, status, code) in cases {
        let email = format!("{}@corp.example", tamper.replace('_', "-"));
        let sub = sso.person(&email, true, Some(tamper)).await;
        let refused = sign_in(&sso, &sub).await;
        assert_eq!((refused.status, refused.code()), (status, code), "{tamper}: {}", refused.text);
        assert!(refused.session.is_none(), "{tamper}");
        assert!(!sso.member_emails().await.contains(&email), "{tamper}: an account was created");
    }
    // The person refuses at the provider.
    let sub = unique_sub("denier");
    idp()
        .add_user(IdpUser {
            sub: &sub,
            email: "no@corp.example",
            email_verified: true,
            name: "No",
            tamper: None,
            deny: true,
        })
        .await;
    let refused = sign_in(&sso, &sub).await;
    assert_eq!((refused.status, refused.code()), (403, "access_denied"), "{}", refused.text);
    assert!(refused.body["error"]["message"].as_str().unwrap().contains("Corp SSO refused the sign-in"));
    assert!(!sso.member_emails().await.contains(&"no@corp.example".to_owned()));
    // Signing in still works.
    let fine = sso.person("fine@corp.example", true, None).await;
    sign_in(&sso, &fine).await.signed_in();
}
