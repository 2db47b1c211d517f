//! The CLI signs in through the identity provider.

use super::*;

#[tokio::test]
async fn the_cli_signs_in_through_the_identity_provider_in_a_browser_and_with_a_device() {
    use crate::cli_login::{Cli, csrf_of, finish, line_after};

    let sso = Sso::start(JIT).await;
    let sub = sso.person("cli@corp.example", true, None).await;
    // The CLI's URL carries no login hint: the client's default user signs in.
    idp().set_default_user_for(&sso.client_id, &sub).await;

    // Loopback: the printed URL leads, signed out, through Corp SSO to the
    // authorization page; authorizing sends the code to the CLI's listener.
    let cli = Cli::new(&sso.server);
    let (child, rx) = cli.spawn(&["login", "--sso", "corp", "--no-browser"]);
    let mut seen = Vec::new();
    let url = line_after(&rx, "Open this URL to sign in:", &mut seen);
    let browser = Browser::new();
    let page = browser.get(&url).await;
    let went: Vec<String> = page.visited.iter().map(ToString::to_string).collect();
    assert!(went.iter().any(|u| u.contains("/v1/auth/oidc/corp/start")), "{went:?}");
    assert!(went.iter().any(|u| u.starts_with(&idp().issuer)), "{went:?}");
    let authorize = page.visited.last().unwrap().clone();
    assert_eq!(authorize.path(), "/dashboard/cli/authorize", "{went:?}");
    let html = page.response.text().await.unwrap();
    assert!(
        html.contains("Authorize the latchkey CLI on this machine?") && html.contains("cli@corp.example"),
        "{html}"
    );
    let mut form: Vec<(String, String)> = authorize.query_pairs().into_owned().collect();
    form.push(("csrf".into(), csrf_of(&html)));
    form.push(("decision".into(), "authorize".into()));
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut action = authorize.clone();
    action.set_query(None);
    let landed = browser.post_form(action.as_str(), &form).await;
    assert!(landed.visited.last().unwrap().as_str().starts_with("http://127.0.0.1:"), "{:?}", landed.visited);
    assert!(landed.response.text().await.unwrap().contains("Signed in; you can close this window"));
    let (code, stdout, stderr) = finish(child, &rx);
    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {seen:?} {stderr}");
    let status = cli.status();
    assert_eq!(
        (status["authType"].as_str(), status["user"]["email"].as_str()),
        (Some("session"), Some("cli@corp.example"))
    );

    // Device: the verification URL leads through Corp SSO too, to the
    // device page with the code filled in; approving signs the CLI in.
    let device = Cli::new(&sso.server);
    let (child, rx) = device.spawn(&["login", "--device", "--sso", "corp"]);
    let mut seen = Vec::new();
    let user_code = line_after(&rx, "and enter the code", &mut seen);
    let complete = line_after(&rx, "or open:", &mut seen);
    let browser = Browser::new();
    let page = browser.get(&complete).await;
    assert!(page.visited.iter().any(|u| u.as_str().starts_with(&idp().issuer)), "{:?}", page.visited);
    let html = page.response.text().await.unwrap();
    assert!(html.contains(&format!("value=\"{user_code}\"")), "prefilled: {html}");
    let entered = browser
        .post_form(
            &format!("{}/dashboard/device", sso.server.url),
            &[("csrf", &csrf_of(&html)), ("user_code", &user_code)],
        )
        .await;
    let html = entered.response.text().await.unwrap();
    assert!(html.contains("Approve this sign-in?"), "{html}");
    let approved = browser
        .post_form(
            &format!("{}/dashboard/device/decide", sso.server.url),
            &[("csrf", &csrf_of(&html)), ("user_code", &user_code), ("decision", "approve")],
        )
        .await;
    assert!(approved.response.text().await.unwrap().contains("Device approved"));
    let (code, stdout, stderr) = finish(child, &rx);
    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {seen:?} {stderr}");
    assert_eq!(device.status()["user"]["email"], "cli@corp.example");
}
