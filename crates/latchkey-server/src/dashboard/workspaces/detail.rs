//! A workspace's page: its record (`GET /v1/workspaces/{id}`) and its
//! files, a page at a time (`GET /v1/workspaces/{id}/files`). Without an
//! object store the files section says that file access is not configured
//! (the API's 501 `storage_not_configured`) and the rest of the page is
//! there; a workspace the viewer may not see is the API's 404 page.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use latchkey_api_types::workspaces::{FileView, WorkspaceKind};
use latchkey_core::id::WorkspaceId;
use serde::Deserialize;

use super::form::size_label;
use super::{Names, Row};
use crate::dashboard::page::{Chrome, Problem, render, short_time};
use crate::dashboard::session::Viewer;
use crate::error::ApiError;
use crate::extract::Query;
use crate::routes::workspaces::{files, records};
use crate::state::AppState;

/// Files listed per page.
const FILES_PAGE: u32 = 50;

/// The page's query string.
#[derive(Debug, Default, Deserialize)]
pub(super) struct DetailParams {
    /// The files after this path (the listing's `nextCursor`).
    cursor: Option<String>,
}

/// A file as a row of the table shows it.
struct FileRow {
    path: String,
    size: String,
    /// The exact size, for the cell's title.
    bytes: u64,
    modified: Option<String>,
}

impl From<FileView> for FileRow {
    fn from(f: FileView) -> Self {
        Self {
            size: size_label(f.size),
            bytes: f.size,
            modified: f.last_modified.as_deref().map(short_time),
            path: f.path,
        }
    }
}

/// What the files section shows.
enum Files {
    /// A page of files (maybe none), and the link to the next.
    Listed { rows: Vec<FileRow>, next: Option<String> },
    /// The server has no object store.
    NotConfigured,
    /// The store could not be asked (or the cursor was refused).
    Failed(Problem),
}

#[derive(Template)]
#[template(path = "dashboard/workspaces_detail.html")]
struct DetailPage {
    chrome: Chrome,
    r: Row,
    storage_prefix: String,
    updated: String,
    /// The page of files shown is not the first.
    paged: bool,
    files: Files,
}

/// `GET /dashboard/workspaces/{id}`
pub(super) async fn show(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<WorkspaceId>,
    Query(p): Query<DetailParams>,
) -> Result<Response, ApiError> {
    let chrome = Chrome::load(&state, &viewer, "Workspaces").await?;
    let w = records::get(State(state.clone()), viewer.caller.clone(), Path(id.clone())).await?.0.data;
    let me = viewer.caller.user_id.as_deref();
    let someone_else = w.kind == WorkspaceKind::Personal && w.owner_user_id.as_deref() != me;
    let names = Names::load(&state, &viewer, someone_else).await?;
    let cursor = p.cursor.filter(|c| !c.is_empty());
    let paged = cursor.is_some();
    let id_shown = id.to_string();
    let q = files::FilesQuery { cursor, limit: Some(FILES_PAGE), ..Default::default() };
    let files = match files::list(State(state.clone()), viewer.caller.clone(), Path(id), Query(q)).await {
        Ok(list) => {
            let list = list.0;
            let next = list.next_cursor.map(|c| next_page(&id_shown, &c));
            Files::Listed { rows: list.data.into_iter().map(FileRow::from).collect(), next }
        }
        Err(e) if e.code() == "storage_not_configured" => Files::NotConfigured,
        Err(e) => Files::Failed(Problem::new(&e, viewer.request_id.as_deref())),
    };
    let storage_prefix = w.storage_prefix.clone();
    let updated = short_time(&w.updated_at);
    let r = Row::new(w, &names, me, None);
    Ok(render(StatusCode::OK, &DetailPage { chrome, r, storage_prefix, updated, paged, files }))
}

/// The page of workspace `id`'s files after the path `cursor` (any
/// characters a path may hold, encoded).
fn next_page(id: &str, cursor: &str) -> String {
    let query: String = url::form_urlencoded::Serializer::new(String::new()).append_pair("cursor", cursor).finish();
    format!("/dashboard/workspaces/{id}?{query}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_page_link_encodes_the_last_path() {
        assert_eq!(next_page("wsp_1", "notes/a b&c#d.md"), "/dashboard/workspaces/wsp_1?cursor=notes%2Fa+b%26c%23d.md");
    }
}
