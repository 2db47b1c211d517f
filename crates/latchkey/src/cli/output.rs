//! How the CLI prints: tables sized to the terminal and relative times for
//! people, the server's data as JSON for scripts (`--json`), colour only on
//! a terminal and never with `NO_COLOR`.

use std::io::IsTerminal;

use comfy_table::{Cell, Color, ContentArrangement, Table, presets};
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Output settings of one command.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    /// `--json`: print the server's data, nothing else, on stdout.
    pub json: bool,
    /// ANSI colour on stdout.
    pub color: bool,
}

impl Output {
    /// Colour when stdout is a terminal, `NO_COLOR` is unset or empty and
    /// `TERM` is not `dumb`.
    pub fn new(json: bool) -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
        Self { json, color: !json && !no_color && !dumb && std::io::stdout().is_terminal() }
    }

    /// Prints `value` as pretty JSON.
    pub fn print_json<T: Serialize + ?Sized>(&self, value: &T) -> anyhow::Result<()> {
        println!("{}", serde_json::to_string_pretty(value)?);
        Ok(())
    }

    /// A borderless table with upper-case headers, wrapped to the terminal.
    pub fn table(&self, headers: &[&str]) -> Table {
        let mut t = Table::new();
        t.load_preset(presets::NOTHING)
            .set_content_arrangement(ContentArrangement::Dynamic)
            .set_header(headers.iter().map(|h| Cell::new(h.to_uppercase())));
        t
    }

    /// Prints a table without the cell padding at the line ends.
    pub fn print_table(&self, table: &Table) {
        for line in table.to_string().lines() {
            println!("{}", line.strip_prefix(' ').unwrap_or(line).trim_end());
        }
    }

    /// A cell for a status word, coloured on a terminal.
    pub fn status_cell(&self, status: &str) -> Cell {
        let cell = Cell::new(status);
        if !self.color {
            return cell;
        }
        match status {
            "active" | "VALID" | "admin" => cell.fg(Color::Green),
            "revoked" | "expired" | "disabled" => cell.fg(Color::Red),
            _ => cell.fg(Color::Yellow),
        }
    }

    /// `text` in bold yellow on a terminal (for warnings such as "shown once").
    pub fn warn(&self, text: &str) -> String {
        if self.color { format!("\x1b[1;33m{text}\x1b[0m") } else { text.to_owned() }
    }

    /// `text` in bold on a terminal.
    pub fn bold(&self, text: &str) -> String {
        if self.color { format!("\x1b[1m{text}\x1b[0m") } else { text.to_owned() }
    }
}

/// A table cell of text from the server, its control characters escaped.
pub fn cell(content: &(impl ToString + ?Sized)) -> Cell {
    Cell::new(clean(&content.to_string()))
}

/// Text from the server (names, emails, messages) as it may be printed to
/// a terminal: control characters escaped, so that a name cannot move the
/// cursor, recolour the screen or forge a line
/// (`latchkey_core::text::escape_controls`).
pub fn clean(text: &str) -> std::borrow::Cow<'_, str> {
    latchkey_core::text::escape_controls(text)
}

/// Prints `label  value` lines with the labels aligned (values escaped with
/// [`clean`]).
pub fn print_fields(fields: &[(&str, String)]) {
    let width = fields.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
    for (label, value) in fields {
        let value = clean(value);
        println!("{label:<width$}  {value}");
    }
}

/// A time as "3 days ago" / "in 2 hours" / "just now"; `-` for none.
pub fn ago(ts: Option<&str>) -> String {
    match ts {
        None => "-".to_owned(),
        Some(ts) => relative(ts, OffsetDateTime::now_utc()),
    }
}

/// `ts` relative to `now`; anything unparsable is shown as it is.
pub fn relative(ts: &str, now: OffsetDateTime) -> String {
    let Ok(t) = OffsetDateTime::parse(ts, &Rfc3339) else {
        return ts.to_owned();
    };
    let secs = (t - now).whole_seconds();
    let abs = secs.unsigned_abs();
    const MIN: u64 = 60;
    const HOUR: u64 = 60 * MIN;
    const DAY: u64 = 24 * HOUR;
    let (n, unit) = match abs {
        0..45 => return "just now".to_owned(),
        45..90 => (1, "minute"),
        _ if abs < HOUR => (abs.div_ceil(MIN).min(59), "minute"),
        _ if abs < DAY => ((abs + HOUR / 2) / HOUR, "hour"),
        _ if abs < 45 * DAY => ((abs + DAY / 2) / DAY, "day"),
        _ if abs < 365 * DAY => ((abs + 15 * DAY) / (30 * DAY), "month"),
        _ => ((abs + 182 * DAY) / (365 * DAY), "year"),
    };
    let unit = if n == 1 { unit.to_owned() } else { format!("{unit}s") };
    if secs < 0 { format!("{n} {unit} ago") } else { format!("in {n} {unit}") }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn relative_times_read_like_people_say_them() {
        let now = datetime!(2026-11-23 12:00:00 UTC);
        let at = |d: time::Duration| (now + d).format(&Rfc3339).unwrap_or_default();
        let cases = [
            (time::Duration::seconds(-10), "just now"),
            (time::Duration::seconds(-60), "1 minute ago"),
            (time::Duration::minutes(-5), "5 minutes ago"),
            (time::Duration::hours(-3), "3 hours ago"),
            (time::Duration::days(-3), "3 days ago"),
            (time::Duration::days(30), "in 30 days"),
            (time::Duration::days(90), "in 3 months"),
            (time::Duration::days(-400), "1 year ago"),
            (time::Duration::hours(1), "in 1 hour"),
        ];
        for (d, want) in cases {
            assert_eq!(relative(&at(d), now), want, "{d}");
        }
        assert_eq!(relative("not a time", now), "not a time");
    }
}
