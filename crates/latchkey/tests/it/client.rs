//! The Rust client crate against a real server: the typed methods the CLI
//! does not use (profiles, forward auth, paging), and its error values.

use latchkey_client::types::runloop::{RestrictedKeyCreateParameters, ScopeEntryView};
use latchkey_client::types::runtype::{CreateProduct, CreateSurface, CreateSurfaceKey};
use latchkey_client::types::{CreateApiKey, CreateProject, KeyOwner, SignUp, UpdateApiKey, VerifyKey};
use latchkey_client::{Client, Error, KeyListQuery, PageRequest};

use crate::common::{PASSWORD, TestServer};

fn new_key(name: &str, scopes: &[&str]) -> CreateApiKey {
    CreateApiKey {
        name: name.to_owned(),
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        expires_in: None,
        expires_at: None,
        is_test: false,
        project_id: None,
        rate_limit_per_minute: None,
        rate_limit_per_day: None,
        remaining: None,
        refill: None,
        owner: KeyOwner::User,
        allowed_cidrs: None,
    }
}

#[tokio::test]
async fn the_client_speaks_every_part_of_the_api() {
    let server = TestServer::start().await;
    let anon = Client::new(&server.url).unwrap();
    anon.healthz().await.unwrap();
    assert_eq!(anon.readyz().await.unwrap()["status"], "ready");
    assert!(anon.metrics().await.unwrap().contains("latchkey_"));

    let grant = anon
        .signup(&SignUp {
            email: "ana@example.com".into(),
            password: PASSWORD.into(),
            display_name: "Ana".into(),
            org_name: "Acme".into(),
        })
        .await
        .unwrap();
    let ana = anon.clone().with_token(grant.token);
    let me = ana.me().await.unwrap();
    assert_eq!((me.auth_type.as_str(), me.org.name.as_str()), ("session", "Acme"));
    assert!(ana.scopes().await.unwrap().iter().any(|s| s.scope == "keys:verify"));

    // Errors carry the server's code and message.
    match ana.key("key_nope").await {
        Err(Error::Api { status: 404, code, message, .. }) => {
            assert_eq!(code, "not_found");
            assert!(!message.is_empty());
        }
        other => panic!("{other:?}"),
    }
    let err = anon.me().await.unwrap_err();
    assert_eq!((err.status(), err.code()), (Some(401), Some("unauthorized")));

    // Keys, with paging followed to the end.
    let project = ana.create_project(&CreateProject { name: "P".into(), description: None }).await.unwrap();
    for i in 0..3 {
        ana.create_key(&new_key(&format!("k{i}"), &["sandbox:create"])).await.unwrap();
    }
    let first = ana
        .keys(&KeyListQuery { page: PageRequest { limit: Some(2), cursor: None }, ..Default::default() })
        .await
        .unwrap();
    assert_eq!(first.data.len(), 2);
    assert!(first.next_cursor.is_some());
    let all = ana
        .all(|page| {
            let q = KeyListQuery { page, ..Default::default() };
            let ana = ana.clone();
            async move { ana.keys(&q).await }
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 3);

    let key = ana.create_key(&new_key("svc", &["sandbox:create"])).await.unwrap();
    let plain = key.key.clone().unwrap();
    let updated = ana
        .update_key(&key.id, &UpdateApiKey { rate_limit_per_minute: Some(Some(100)), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(updated.rate_limit_per_minute, Some(100));
    // Absent fields stay as they are (the client does not send them as null).
    let renamed =
        ana.update_key(&key.id, &UpdateApiKey { name: Some("svc2".into()), ..Default::default() }).await.unwrap();
    assert_eq!((renamed.name.as_str(), renamed.rate_limit_per_minute), ("svc2", Some(100)));

    let verdict = ana
        .verify(&VerifyKey {
            key: plain.clone(),
            scopes: vec!["sandbox:create".into()],
            project_id: None,
            cost: None,
            ip: None,
        })
        .await
        .unwrap();
    assert!(verdict.valid, "{verdict:?}");
    let id = anon.forward_auth(&plain, Some("sandbox:create")).await.unwrap();
    assert_eq!((id.key_id.as_str(), id.org_id.as_str()), (key.id.as_str(), me.org.id.as_str()));
    let refused = anon.forward_auth(&plain, Some("agent:run")).await.unwrap_err();
    assert_eq!(refused.status(), Some(403));

    // Profiles.
    let rk = ana
        .runloop_create_restricted_key(&RestrictedKeyCreateParameters {
            name: Some("rk".into()),
            scopes: Some(vec![ScopeEntryView {
                resource_type: "RESOURCE_TYPE_DEVBOXES".into(),
                access_level: "ACCESS_LEVEL_READ".into(),
            }]),
            expires_at_ms: None,
        })
        .await
        .unwrap();
    assert!(rk.key_secret.starts_with("rk_"), "{rk:?}");
    let product = ana.create_product(&CreateProduct { name: "Widget".into() }).await.unwrap();
    let surface = ana.create_surface(&product.id, &CreateSurface { name: "web".into() }).await.unwrap();
    assert_eq!(ana.surface(&product.id, &surface.id).await.unwrap().name, "web");
    let sk = ana.create_surface_key(&product.id, &surface.id, &CreateSurfaceKey::default()).await.unwrap();
    assert!(sk.key.starts_with("sk_test_"), "{sk:?}");
    assert_eq!(ana.products(&PageRequest::default()).await.unwrap().data.len(), 1);

    // A hostile id stays inside its path segment.
    let err = ana.project("../api-keys").await.unwrap_err();
    assert_eq!(err.status(), Some(404));
    ana.delete_project(&project.id).await.unwrap();

    ana.logout().await.unwrap();
    assert_eq!(ana.me().await.unwrap_err().status(), Some(401));
}

#[tokio::test]
async fn the_client_reaches_workspaces_and_hands_back_their_refusals() {
    use latchkey_client::types::workspaces::{
        CreateWorkspace, MountMode, MountRequest, PresignMethod, PresignRequest, UpdateWorkspace, WorkspaceKind,
    };
    use latchkey_client::{WorkspaceFileQuery, WorkspaceListQuery};

    let server = TestServer::start().await;
    let admin = Client::new(&server.url).unwrap().with_token(server.admin.api_key.clone());
    let create = |name: &str, kind| CreateWorkspace { name: name.into(), kind, project_id: None, quota_bytes: None };
    let shared = admin.create_workspace(&create("shared", WorkspaceKind::Org)).await.unwrap();
    let own = admin.create_workspace(&create("own", WorkspaceKind::Personal)).await.unwrap();
    assert!(shared.id.starts_with("wsp_"), "{shared:?}");

    // Get and update: a quota set, then removed with null; absent fields stay.
    assert_eq!(admin.workspace(&shared.id).await.unwrap().name, "shared");
    let patch = UpdateWorkspace { name: Some("shared-2".into()), quota_bytes: Some(Some(1024)), ..Default::default() };
    let w = admin.update_workspace(&shared.id, &patch).await.unwrap();
    assert_eq!((w.name.as_str(), w.quota_bytes), ("shared-2", Some(1024)));
    let w = admin
        .update_workspace(&shared.id, &UpdateWorkspace { quota_bytes: Some(None), ..Default::default() })
        .await
        .unwrap();
    assert_eq!((w.name.as_str(), w.quota_bytes), ("shared-2", None));

    // Pages of one, followed to the end.
    let one = WorkspaceListQuery { page: PageRequest { limit: Some(1), cursor: None }, ..Default::default() };
    let first = admin.workspaces(&one).await.unwrap();
    assert_eq!(first.data.len(), 1);
    assert!(first.next_cursor.is_some());
    let all = admin
        .all(|page| {
            let q = WorkspaceListQuery { page, ..Default::default() };
            let admin = admin.clone();
            async move { admin.workspaces(&q).await }
        })
        .await
        .unwrap();
    let mut ids: Vec<&str> = all.iter().map(|w| w.id.as_str()).collect();
    ids.sort_unstable();
    let mut want = [shared.id.as_str(), own.id.as_str()];
    want.sort_unstable();
    assert_eq!(ids, want);

    // A mount grant names a key the public JWKS holds (no credential needed).
    let mount = |mode| MountRequest { sandbox_id: "sbx_1".into(), path: "/workspace".into(), mode };
    let grant = admin.decide_mount(&shared.id, &mount(MountMode::Ro)).await.unwrap();
    assert!(grant.allowed);
    let header = grant.grant.split('.').next().unwrap();
    let header: serde_json::Value =
        serde_json::from_slice(&<base64ct::Base64UrlUnpadded as base64ct::Encoding>::decode_vec(header).unwrap())
            .unwrap();
    let jwks = Client::new(&server.url).unwrap().workspace_grant_keys().await.unwrap();
    assert!(jwks.keys.iter().any(|k| k.kid == header["kid"].as_str().unwrap() && k.crv == "Ed25519"), "{jwks:?}");

    // The server's refusals arrive with their status and code.
    let err = admin.decide_mount(&own.id, &mount(MountMode::Rw)).await.unwrap_err();
    assert_eq!((err.status(), err.code()), (Some(403), Some("personal_workspace_not_mountable")));
    let presign = PresignRequest { path: "a.txt".into(), method: PresignMethod::Put, expires_in: None };
    let err = admin.presign_workspace_object(&shared.id, &presign).await.unwrap_err();
    assert_eq!((err.status(), err.code()), (Some(501), Some("storage_not_configured")));
    let err = admin.workspace_files(&shared.id, &WorkspaceFileQuery::default()).await.unwrap_err();
    assert_eq!((err.status(), err.code()), (Some(501), Some("storage_not_configured")));

    admin.delete_workspace(&shared.id).await.unwrap();
    let err = admin.workspace(&shared.id).await.unwrap_err();
    assert_eq!((err.status(), err.code()), (Some(404), Some("not_found")));
}
