//! Usage that could not be written within the shutdown deadline, kept in a
//! spill file in the data directory until the next start writes it.
//!
//! A spill is one file, `usage-spill-<id>.jsonl`, written whole before it
//! appears: to a temporary name, synced, renamed, and the directory synced.
//! Its first line is a header, `{"spill": id, "chunk": n, "keys": count}`;
//! each further line one key, `[id, lastUsedAt or null, [[day, outcome,
//! count], …]]`. Each node spills into its own data directory.
//!
//! The next start replays every spill it finds, `chunk` keys at a time (as
//! the header says, whatever this version's chunk size), each chunk in one
//! transaction with a row naming the spill and the chunk
//! ([`KeyStore::replay_usage_chunk`]): a chunk already written is skipped,
//! so a replay cut short (stopped, killed, a failed write) and repeated
//! counts nothing twice. Once every chunk is written the file is removed,
//! then the rows.
//!
//! [`KeyStore::replay_usage_chunk`]: latchkey_store::KeyStore::replay_usage_chunk

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use latchkey_core::id::{IdKind, new_id};
use latchkey_core::time_fmt::{Millis, day_string, now_ms};
use latchkey_core::{KeyId, KeyState};
use latchkey_store::{StoreError, UsageCount};

use crate::KeyVerifier;
use crate::pending::{KeyPending, Tag};

/// A spill file's name: this prefix, the spill's id, [`SPILL_SUFFIX`].
const SPILL_PREFIX: &str = "usage-spill-";
/// A spill file's extension.
const SPILL_SUFFIX: &str = ".jsonl";
/// A spill being written carries this after its name until it is whole.
const PARTIAL_SUFFIX: &str = ".partial";

/// Why a spill could not be written or replayed.
#[derive(Debug, thiserror::Error)]
pub enum SpillError {
    /// Reading or writing the file.
    #[error("usage spill {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What failed.
        source: io::Error,
    },
    /// A line that is not what a spill holds.
    #[error("usage spill {path}, line {line}: {message}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The line, from 1.
        line: usize,
        /// What is wrong with it.
        message: String,
    },
    /// Writing a chunk to storage.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One key's line in a spill: id, last use, counts by day and outcome.
type Line = (String, Option<Millis>, Vec<(String, String, i64)>);

/// Writes `taken` to a new spill file in `dir`, `chunk` keys per replay
/// chunk; returns its path. Nothing is left under the spill's name unless
/// it is whole and synced.
pub(crate) fn write_spill(dir: &Path, taken: &[(Tag, KeyPending)], chunk: usize) -> Result<PathBuf, SpillError> {
    let id = new_id(IdKind::Event).trim_start_matches("evt_").to_owned();
    let path = dir.join(format!("{SPILL_PREFIX}{id}{SPILL_SUFFIX}"));
    let partial = dir.join(format!("{SPILL_PREFIX}{id}{SPILL_SUFFIX}{PARTIAL_SUFFIX}"));
    let io_err = |path: &Path| {
        let path = path.to_owned();
        move |source| SpillError::Io { path, source }
    };
    let write = || -> io::Result<()> {
        let file = File::create(&partial)?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        let header = serde_json::json!({"spill": id, "chunk": chunk, "keys": taken.len()});
        serde_json::to_writer(&mut out, &header)?;
        out.write_all(b"\n")?;
        for (_, p) in taken {
            out.write_all(b"[")?;
            serde_json::to_writer(&mut out, p.id.as_str())?;
            match p.last_used {
                Some(t) => write!(out, ",{t},[")?,
                None => out.write_all(b",null,[")?,
            }
            let mut first = true;
            for (day, counts) in p.days() {
                let day = day_string(day);
                for code in KeyState::ALL {
                    let n = counts[code.index()];
                    if n > 0 {
                        let comma = if first { "" } else { "," };
                        write!(out, "{comma}[\"{day}\",\"{}\",{n}]", code.as_str())?;
                        first = false;
                    }
                }
            }
            out.write_all(b"]]\n")?;
        }
        let file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
        file.sync_all()?;
        std::fs::rename(&partial, &path)?;
        File::open(dir)?.sync_all()
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&partial);
        io_err(&path)(e)
    })?;
    Ok(path)
}

/// The spill files in `dir`, oldest id first. Partial ones (a process that
/// died while spilling, its usage lost with it) are removed.
pub(crate) fn spill_files(dir: &Path) -> Result<Vec<PathBuf>, SpillError> {
    let io_err = |source| SpillError::Io { path: dir.to_owned(), source };
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(e)),
    };
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(io_err)?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else { continue };
        if !name.starts_with(SPILL_PREFIX) {
            continue;
        }
        if name.ends_with(PARTIAL_SUFFIX) {
            tracing::warn!(file = %path.display(), "removing a usage spill that was never finished");
            std::fs::remove_file(&path).map_err(io_err)?;
        } else if name.ends_with(SPILL_SUFFIX) {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// A spill being read: its id, its chunk size, and its key lines.
pub(crate) struct SpillReader {
    path: PathBuf,
    pub(crate) id: String,
    pub(crate) chunk: usize,
    lines: io::Lines<BufReader<File>>,
    line: usize,
}

impl SpillReader {
    /// Opens the spill at `path` and reads its header.
    pub(crate) fn open(path: &Path) -> Result<Self, SpillError> {
        let file = File::open(path).map_err(|source| SpillError::Io { path: path.to_owned(), source })?;
        let mut lines = BufReader::with_capacity(1 << 20, file).lines();
        let corrupt = |message: &str| SpillError::Corrupt { path: path.to_owned(), line: 1, message: message.into() };
        let header = lines.next().ok_or_else(|| corrupt("empty"))?;
        let header: serde_json::Value = header
            .map_err(|source| SpillError::Io { path: path.to_owned(), source })
            .and_then(|h| serde_json::from_str(&h).map_err(|e| corrupt(&e.to_string())))?;
        let id = header["spill"].as_str().ok_or_else(|| corrupt("no spill id"))?.to_owned();
        let chunk = header["chunk"]
            .as_u64()
            .and_then(|c| usize::try_from(c).ok())
            .filter(|c| *c > 0)
            .ok_or_else(|| corrupt("no chunk size"))?;
        Ok(Self { path: path.to_owned(), id, chunk, lines, line: 1 })
    }

    /// The next chunk's `lastUsedAt` values and counts, and its key count;
    /// `None` at the end.
    #[expect(clippy::type_complexity, reason = "the two batches of KeyStore::record_key_usage")]
    pub(crate) fn next_chunk(&mut self) -> Result<Option<(Vec<(KeyId, Millis)>, Vec<UsageCount>, usize)>, SpillError> {
        let (mut last_used, mut counts, mut keys) = (Vec::new(), Vec::new(), 0);
        while keys < self.chunk {
            let Some(line) = self.lines.next() else { break };
            self.line += 1;
            let line = line.map_err(|source| SpillError::Io { path: self.path.clone(), source })?;
            let (id, last, days): Line = serde_json::from_str(&line).map_err(|e| SpillError::Corrupt {
                path: self.path.clone(),
                line: self.line,
                message: e.to_string(),
            })?;
            let id = KeyId::from(id.as_str());
            if let Some(t) = last {
                last_used.push((id.clone(), t));
            }
            counts.extend(days.into_iter().map(|(day, outcome, count)| UsageCount {
                key_id: id.clone(),
                day,
                outcome,
                count,
            }));
            keys += 1;
        }
        Ok((keys > 0).then_some((last_used, counts, keys)))
    }
}

impl KeyVerifier {
    /// Writes every spill in `dir` to storage (see the module doc), pausing
    /// `pause` between chunks while `go_on` says so; returns how many keys'
    /// usage was written. A spill is removed once all its chunks are
    /// written; one cut short stays for the next attempt.
    pub async fn replay_spills(
        &self,
        dir: &Path,
        pause: std::time::Duration,
        go_on: impl Fn() -> bool,
    ) -> Result<usize, SpillError> {
        let mut written = 0;
        for path in spill_files(dir)? {
            let started = std::time::Instant::now();
            let mut spill = SpillReader::open(&path)?;
            let (mut chunk, mut keys, mut skipped) = (0_i64, 0, 0);
            while let Some((last_used, counts, n)) = spill.next_chunk()? {
                if !go_on() {
                    return Ok(written);
                }
                if self.store.replay_usage_chunk(&spill.id, chunk, now_ms(), &last_used, &counts).await? {
                    keys += n;
                } else {
                    skipped += n;
                }
                chunk += 1;
                if !pause.is_zero() {
                    tokio::time::sleep(pause).await;
                }
            }
            std::fs::remove_file(&path).map_err(|source| SpillError::Io { path: path.clone(), source })?;
            if let Err(e) = File::open(dir).and_then(|d| d.sync_all()) {
                tracing::warn!(error = %e, dir = %dir.display(), "could not sync the data directory");
            }
            self.store.forget_usage_spill(&spill.id).await?;
            written += keys;
            tracing::info!(
                file = %path.display(),
                keys,
                already_written = skipped,
                ms = started.elapsed().as_millis(),
                "spilled key usage written"
            );
        }
        Ok(written)
    }
}
