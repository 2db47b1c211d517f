//! The object store behind workspaces' files (`[workspaces.storage]` in
//! `latchkey.toml`): SigV4 presigned URLs for one object under a
//! workspace's prefix, and the objects listed under it.
//!
//! Signing is rusty-s3's (sans-IO): a URL signed here carries its method,
//! bucket, key and expiry in the signature, so the store refuses it for
//! another object, another method, or once it has expired. Listing sends a
//! signed `ListObjectsV2` with [`crate::outbound::client`] (no redirects,
//! 10 s), follows continuation tokens up to a cap, and reads each answer up
//! to [`MAX_LIST_BODY`]. No error here carries a signed URL: the signature
//! in one is a credential until it expires.

use std::time::Duration;

use latchkey_core::time_fmt::{Millis, now_ms, parse_rfc3339};
use rusty_s3::actions::ListObjectsV2;
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};

use super::keys::{KeyError, Prefix};
use crate::oidc::ClientSecret;
use crate::oidc::config::endpoint_allowed;

/// The longest a presigned URL is valid.
pub const MAX_EXPIRY: Duration = Duration::from_secs(3600);
/// The most objects one listing returns.
pub const MAX_LIST: usize = 1000;
/// Objects asked for per `ListObjectsV2` request (S3's own maximum).
const PAGE_SIZE: usize = 1000;
/// The most one `ListObjectsV2` answer may weigh (1000 keys of 1024 bytes,
/// URL-encoded, with their metadata, fit).
const MAX_LIST_BODY: usize = 8 * 1024 * 1024;
/// How long the signature of a listing request is valid.
const LIST_SIGNATURE: Duration = Duration::from_secs(60);

/// `[workspaces.storage]`: where workspaces' files are, and the credentials
/// latchkey signs with. The secret is redacted in `Debug`.
#[derive(Debug, Clone)]
pub struct StorageConfig {
    /// The store's S3 endpoint (`https://s3.eu-west-1.amazonaws.com`,
    /// `http://127.0.0.1:8333`): https, or http on a loopback address.
    pub endpoint: String,
    /// The bucket holding every workspace's prefix.
    pub bucket: String,
    /// The region signatures are made for (`us-east-1` for most
    /// S3-compatible servers).
    pub region: String,
    /// The access key id latchkey signs with.
    pub access_key_id: String,
    /// Its secret access key.
    pub secret_access_key: ClientSecret,
    /// Path-style URLs (`endpoint/bucket/key`, what S3-compatible servers
    /// expect; the default) or virtual-host style (`bucket.endpoint/key`).
    pub path_style: bool,
}

/// Why `[workspaces.storage]` is refused at start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StorageConfigError {
    /// Not https, or http off loopback, or with a query or user info.
    #[error("workspaces.storage: endpoint `{0}` must be an https:// URL (http:// only on a loopback address)")]
    Endpoint(String),
    /// Not an S3 bucket name.
    #[error("workspaces.storage: bucket `{0}` must be 3-63 lowercase letters, digits, `-` and `.`")]
    Bucket(String),
    /// Not a region name.
    #[error("workspaces.storage: region `{0}` must be 1-64 lowercase letters, digits and `-`")]
    Region(String),
    /// An empty access key id, or one with a control character.
    #[error("workspaces.storage: access_key_id must not be empty")]
    AccessKeyId,
    /// No secret access key anywhere.
    #[error(
        "workspaces.storage: set secret_access_key, secret_access_key_file or LATCHKEY_WORKSPACES_SECRET_ACCESS_KEY"
    )]
    Secret,
    /// rusty-s3 cannot make the bucket's URL (virtual-host style on an IP
    /// address, say).
    #[error("workspaces.storage: no bucket URL can be made of endpoint `{endpoint}` and bucket `{bucket}` ({reason})")]
    BucketUrl {
        /// The endpoint.
        endpoint: String,
        /// The bucket.
        bucket: String,
        /// rusty-s3's reason.
        reason: String,
    },
}

impl StorageConfig {
    /// Checks what can be checked without the network.
    pub fn check(&self) -> Result<(), StorageConfigError> {
        self.signer().map(drop)
    }

    /// The bucket and credentials to sign with, when every setting is usable.
    fn signer(&self) -> Result<(Bucket, Credentials), StorageConfigError> {
        if !endpoint_allowed(&self.endpoint) {
            return Err(StorageConfigError::Endpoint(self.endpoint.clone()));
        }
        if !bucket_name_ok(&self.bucket) {
            return Err(StorageConfigError::Bucket(self.bucket.clone()));
        }
        let region_ok = (1..=64).contains(&self.region.len())
            && self.region.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !region_ok {
            return Err(StorageConfigError::Region(self.region.clone()));
        }
        let id = self.access_key_id.trim();
        if id.is_empty() || id.chars().any(char::is_control) {
            return Err(StorageConfigError::AccessKeyId);
        }
        let endpoint =
            url::Url::parse(&self.endpoint).map_err(|_| StorageConfigError::Endpoint(self.endpoint.clone()))?;
        let style = if self.path_style { UrlStyle::Path } else { UrlStyle::VirtualHost };
        let bucket = Bucket::new(endpoint, style, self.bucket.clone(), self.region.clone()).map_err(|e| {
            StorageConfigError::BucketUrl {
                endpoint: self.endpoint.clone(),
                bucket: self.bucket.clone(),
                reason: format!("{e:?}"),
            }
        })?;
        Ok((bucket, Credentials::new(id, self.secret_access_key.expose())))
    }
}

/// What a presigned URL lets its holder do with the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectMethod {
    /// Download it.
    Get,
    /// Upload (or replace) it.
    Put,
    /// Delete it.
    Delete,
}

impl ObjectMethod {
    /// `GET`, `PUT`, `DELETE`: the HTTP method the URL is signed for.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Put => "PUT",
            Self::Delete => "DELETE",
        }
    }
}

/// A presigned URL and when it stops working.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presigned {
    /// The URL, to be used with the method it was signed for.
    pub url: String,
    /// The method.
    pub method: ObjectMethod,
    /// When the store starts refusing it (epoch milliseconds; the
    /// signature counts whole seconds, so this is never later than the
    /// store's own deadline).
    pub expires_at: Millis,
}

/// One object of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectEntry {
    /// Its path relative to the workspace's prefix.
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
    /// When it was last written (epoch milliseconds), when the store says.
    pub last_modified: Option<Millis>,
}

/// The objects under a prefix, in the store's order (by key).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Listing {
    /// At most the limit asked for.
    pub objects: Vec<ObjectEntry>,
    /// Whether there are more after the last one (list again with it as
    /// `after`).
    pub truncated: bool,
}

/// Why the store could not be asked, or what it answered was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StorageError {
    /// A bad path, prefix or `after`.
    #[error("{0}")]
    Key(#[from] KeyError),
    /// An expiry of zero, or over [`MAX_EXPIRY`].
    #[error("the expiry must be between 1 s and 1 h")]
    Expiry,
    /// The request failed (connection, timeout), or the answer was too
    /// long or a failure status.
    #[error("the object store could not be reached: {0}")]
    Unreachable(String),
    /// The answer was not a listing, or listed a key outside the prefix.
    #[error("the object store answered an unexpected listing: {0}")]
    BadAnswer(String),
}

/// The object store, ready to sign and list.
#[derive(Debug, Clone)]
pub struct ObjectStore {
    bucket: Bucket,
    credentials: Credentials,
    http: reqwest::Client,
    /// `ListObjectsV2`'s `max-keys` ([`PAGE_SIZE`]; smaller in tests).
    page_size: usize,
}

impl ObjectStore {
    /// The store `config` describes; refused when its endpoint, bucket,
    /// region or access key are not usable.
    pub fn new(config: &StorageConfig) -> Result<Self, StorageConfigError> {
        let (bucket, credentials) = config.signer()?;
        Ok(Self { bucket, credentials, http: crate::outbound::client(), page_size: PAGE_SIZE })
    }

    /// The same store asking for `page_size` objects per `ListObjectsV2`
    /// request (1 to 1000): for tests of paging.
    pub fn with_page_size(mut self, page_size: usize) -> Self {
        self.page_size = page_size.clamp(1, PAGE_SIZE);
        self
    }

    /// A URL that lets its holder `method` the object at `path` under
    /// `prefix`, and nothing else, for `expires_in` (1 s to 1 h).
    pub fn presign(
        &self,
        prefix: &Prefix,
        path: &str,
        method: ObjectMethod,
        expires_in: Duration,
    ) -> Result<Presigned, StorageError> {
        if expires_in < Duration::from_secs(1) || expires_in > MAX_EXPIRY {
            return Err(StorageError::Expiry);
        }
        let key = prefix.object_key(path)?;
        // The signature's date counts whole seconds from now.
        let signed_at = now_ms() / 1000 * 1000;
        let credentials = Some(&self.credentials);
        let url = match method {
            ObjectMethod::Get => self.bucket.get_object(credentials, &key).sign(expires_in),
            ObjectMethod::Put => self.bucket.put_object(credentials, &key).sign(expires_in),
            ObjectMethod::Delete => self.bucket.delete_object(credentials, &key).sign(expires_in),
        };
        let expires_in_ms = i64::try_from(expires_in.as_millis()).unwrap_or(i64::MAX);
        Ok(Presigned { url: url.into(), method, expires_at: signed_at.saturating_add(expires_in_ms) })
    }

    /// The objects under `prefix` whose relative path starts with `under`
    /// (empty for all), after the path `after` when given, at most `limit`
    /// of them (capped at [`MAX_LIST`]), following the store's
    /// continuation tokens.
    pub async fn list(
        &self,
        prefix: &Prefix,
        under: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Listing, StorageError> {
        let limit = limit.clamp(1, MAX_LIST);
        let list_prefix = prefix.list_prefix(under)?;
        let start_after = after.map(|a| prefix.object_key(a)).transpose()?;
        let mut listing = Listing::default();
        let mut token: Option<String> = None;
        // Full pages reach the limit in this many requests; a store that
        // answers short pages gets a few more, then the listing ends there,
        // marked truncated.
        let max_requests = limit.div_ceil(self.page_size) + 4;
        for _ in 0..max_requests {
            let want = (limit - listing.objects.len()).min(self.page_size);
            let page = self.list_page(&list_prefix, start_after.as_deref(), token.as_deref(), want).await?;
            for content in page.contents {
                if content.key == prefix.as_str() {
                    // A folder marker of the workspace itself, made by other tools.
                    continue;
                }
                let key = prefix.relative(&content.key).filter(|_| content.key.starts_with(&list_prefix));
                let Some(key) = key else {
                    return Err(StorageError::BadAnswer("a key outside the prefix asked for".to_owned()));
                };
                if listing.objects.len() == limit {
                    listing.truncated = true;
                    return Ok(listing);
                }
                listing.objects.push(ObjectEntry {
                    key: key.to_owned(),
                    size: content.size.unwrap_or(0),
                    last_modified: content.last_modified.as_deref().and_then(parse_rfc3339),
                });
            }
            token = page.next_continuation_token;
            if token.is_none() {
                return Ok(listing);
            }
            if listing.objects.len() == limit {
                listing.truncated = true;
                return Ok(listing);
            }
        }
        listing.truncated = true;
        Ok(listing)
    }

    /// One signed `ListObjectsV2` request and its parsed answer.
    async fn list_page(
        &self,
        list_prefix: &str,
        start_after: Option<&str>,
        token: Option<&str>,
        max_keys: usize,
    ) -> Result<rusty_s3::actions::ListObjectsV2Response, StorageError> {
        let mut action = self.bucket.list_objects_v2(Some(&self.credentials));
        action.with_prefix(list_prefix);
        action.with_max_keys(max_keys);
        match token {
            Some(token) => action.with_continuation_token(token),
            None => {
                if let Some(after) = start_after {
                    action.with_start_after(after);
                }
            }
        }
        let url = action.sign(LIST_SIGNATURE);
        // Errors name the bucket, never the signed URL.
        let label = self.bucket.base_url().as_str();
        let res = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| StorageError::Unreachable(format!("{label}: {}", e.without_url())))?;
        let body = crate::outbound::read_capped(res, label, MAX_LIST_BODY).await.map_err(StorageError::Unreachable)?;
        let text = String::from_utf8(body).map_err(|_| StorageError::BadAnswer("not UTF-8".to_owned()))?;
        ListObjectsV2::parse_response(&text).map_err(|e| StorageError::BadAnswer(e.to_string()))
    }
}

/// An S3 bucket name: 3–63 lowercase letters, digits, `-` and `.`,
/// starting and ending with a letter or digit, no `..`.
fn bucket_name_ok(name: &str) -> bool {
    let edge_ok = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    (3..=63).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && edge_ok(name.as_bytes().first())
        && edge_ok(name.as_bytes().last())
        && !name.contains("..")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> StorageConfig {
        StorageConfig {
            endpoint: "https://s3.eu-west-1.amazonaws.com".to_owned(),
            bucket: "latchkey-files".to_owned(),
            region: "eu-west-1".to_owned(),
            access_key_id: "AKIDEXAMPLE".to_owned(),
            secret_access_key: ClientSecret::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY").unwrap(),
            path_style: true,
        }
    }

    fn store() -> ObjectStore {
        ObjectStore::new(&config()).unwrap()
    }

    fn wsp() -> Prefix {
        Prefix::new("orgs/org_1/workspaces/wsp_1/").unwrap()
    }

    fn query(url: &str) -> Vec<(String, String)> {
        url::Url::parse(url).unwrap().query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
    }

    #[test]
    fn a_presigned_url_names_exactly_one_object_under_the_prefix() {
        let before = now_ms();
        let p = store().presign(&wsp(), "docs/a b.txt", ObjectMethod::Put, Duration::from_secs(600)).unwrap();
        let url = url::Url::parse(&p.url).unwrap();
        assert_eq!(url.host_str(), Some("s3.eu-west-1.amazonaws.com"));
        assert_eq!(url.path(), "/latchkey-files/orgs/org_1/workspaces/wsp_1/docs/a%20b.txt");
        let q = query(&p.url);
        let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("X-Amz-Algorithm"), Some("AWS4-HMAC-SHA256"));
        assert_eq!(get("X-Amz-Expires"), Some("600"));
        assert!(get("X-Amz-Credential").unwrap().starts_with("AKIDEXAMPLE/"));
        assert!(get("X-Amz-Credential").unwrap().contains("/eu-west-1/s3/aws4_request"));
        assert_eq!(get("X-Amz-Signature").map(str::len), Some(64));
        assert_eq!(p.method, ObjectMethod::Put);
        assert!((before / 1000 * 1000 + 600_000..=now_ms() + 600_000).contains(&p.expires_at));
        assert!(!p.url.contains("wJalrXUtnFEMI"), "the secret is never in a URL");
    }

    #[test]
    fn each_method_is_signed_differently() {
        let s = store();
        let sig = |m| {
            let p = s.presign(&wsp(), "a.txt", m, Duration::from_secs(60)).unwrap();
            query(&p.url).into_iter().find(|(k, _)| k == "X-Amz-Signature").unwrap().1
        };
        let (get, put, delete) = (sig(ObjectMethod::Get), sig(ObjectMethod::Put), sig(ObjectMethod::Delete));
        // Signed within one second, the three differ only by their method.
        assert!(get != put && put != delete && get != delete);
        assert_eq!(ObjectMethod::Delete.as_str(), "DELETE");
    }

    #[test]
    fn expiries_past_an_hour_or_under_a_second_are_refused() {
        let s = store();
        for bad in [Duration::ZERO, Duration::from_millis(999), MAX_EXPIRY + Duration::from_secs(1)] {
            assert_eq!(s.presign(&wsp(), "a", ObjectMethod::Get, bad), Err(StorageError::Expiry), "{bad:?}");
        }
        assert!(s.presign(&wsp(), "a", ObjectMethod::Get, MAX_EXPIRY).is_ok());
        assert!(s.presign(&wsp(), "a", ObjectMethod::Get, Duration::from_secs(1)).is_ok());
    }

    #[test]
    fn a_path_that_escapes_the_prefix_is_never_signed() {
        let s = store();
        for bad in ["", "../wsp_2/a", "/a", "a/../../wsp_2/a", "a\0", "a/"] {
            let err = s.presign(&wsp(), bad, ObjectMethod::Delete, Duration::from_secs(60)).unwrap_err();
            assert!(matches!(err, StorageError::Key(_)), "{bad:?}: {err:?}");
        }
    }

    #[test]
    fn virtual_host_urls_put_the_bucket_in_the_host() {
        let s = ObjectStore::new(&StorageConfig { path_style: false, ..config() }).unwrap();
        let p = s.presign(&wsp(), "a.txt", ObjectMethod::Get, Duration::from_secs(60)).unwrap();
        let url = url::Url::parse(&p.url).unwrap();
        assert_eq!(url.host_str(), Some("latchkey-files.s3.eu-west-1.amazonaws.com"));
        assert_eq!(url.path(), "/orgs/org_1/workspaces/wsp_1/a.txt");
    }

    #[test]
    fn a_wrong_configuration_is_refused_with_its_reason() {
        let cases: [(StorageConfig, &str); 10] = [
            (StorageConfig { endpoint: "http://s3.example.com".into(), ..config() }, "must be an https:// URL"),
            (StorageConfig { endpoint: "ftp://127.0.0.1".into(), ..config() }, "must be an https:// URL"),
            (StorageConfig { endpoint: "https://k:s@s3.example.com".into(), ..config() }, "must be an https://"),
            (StorageConfig { endpoint: "https://s3.example.com/?x=1".into(), ..config() }, "must be an https://"),
            (StorageConfig { bucket: "Files".into(), ..config() }, "bucket `Files`"),
            (StorageConfig { bucket: "ab".into(), ..config() }, "bucket `ab`"),
            (StorageConfig { bucket: "-files".into(), ..config() }, "bucket `-files`"),
            (StorageConfig { region: String::new(), ..config() }, "region ``"),
            (StorageConfig { access_key_id: " ".into(), ..config() }, "access_key_id"),
            (
                StorageConfig { endpoint: "https://127.0.0.1:9000".into(), path_style: false, ..config() },
                "no bucket URL",
            ),
        ];
        for (c, reason) in cases {
            let err = c.check().unwrap_err();
            assert!(err.to_string().contains(reason), "{c:?}: {err}");
        }
        assert!(StorageConfig { endpoint: "http://127.0.0.1:8333".into(), ..config() }.check().is_ok());
        assert!(StorageConfig { endpoint: "http://localhost:8333".into(), ..config() }.check().is_ok());
        assert!(StorageConfig { endpoint: "http://[::1]:8333".into(), ..config() }.check().is_ok());
        assert!(config().check().is_ok());
    }

    #[test]
    fn the_secret_is_redacted_in_debug() {
        let shown = format!("{:?} {:?}", config(), store());
        assert!(!shown.contains("wJalrXUtnFEMI"), "{shown}");
        assert!(shown.contains("AKIDEXAMPLE"));
    }

    #[test]
    fn bucket_names_follow_s3s_rules() {
        for ok in ["abc", "latchkey-files", "a.b.c", "0files9", &"a".repeat(63)] {
            assert!(bucket_name_ok(ok), "{ok}");
        }
        for bad in ["", "ab", "ABC", "a_b", "a..b", "files-", ".files", "a b", &"a".repeat(64)] {
            assert!(!bucket_name_ok(bad), "{bad}");
        }
    }
}
