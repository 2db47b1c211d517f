//! Charts drawn on the server: the geometry of a stacked bar chart, which a
//! template turns into SVG (so every label is escaped like any other text,
//! and the page needs no script).

/// The drawing's width, in SVG user units.
pub const WIDTH: f64 = 720.0;
/// The drawing's height.
pub const HEIGHT: f64 = 260.0;
/// Room left of the plot for the value axis' labels.
const LEFT: f64 = 48.0;
/// Room right of the plot.
const RIGHT: f64 = 8.0;
/// Room above the plot.
const TOP: f64 = 12.0;
/// Room below the plot for the day labels.
const BOTTOM: f64 = 28.0;
/// The part of a day's slot its bar fills.
const BAR_FILL: f64 = 0.7;
/// At most this many value-axis ticks above zero.
const MAX_TICKS: i64 = 5;

/// One stacked series: a name, its colour and a value per column.
#[derive(Debug, Clone)]
pub struct Series {
    /// What it counts (`Valid`, …).
    pub label: String,
    /// Its fill colour (`#rrggbb`).
    pub color: &'static str,
    /// One value per column, in column order.
    pub values: Vec<i64>,
}

/// A bar segment: one series' value in one column.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// Left edge.
    pub x: f64,
    /// Top edge.
    pub y: f64,
    /// Width.
    pub width: f64,
    /// Height.
    pub height: f64,
    /// Fill colour.
    pub color: &'static str,
    /// What it shows, for a tooltip (`2026-06-01: 12 Valid`).
    pub title: String,
}

/// A horizontal grid line with its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Tick {
    /// Its height in the drawing.
    pub y: f64,
    /// The value it marks.
    pub value: i64,
}

/// A column's label under the plot.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnLabel {
    /// The column's centre.
    pub x: f64,
    /// The text.
    pub text: String,
}

/// A stacked bar chart, laid out.
#[derive(Debug, Clone)]
pub struct StackedBars {
    /// Every non-zero segment, column by column, bottom up.
    pub segments: Vec<Segment>,
    /// The value axis' grid lines, from zero up.
    pub ticks: Vec<Tick>,
    /// Labels of some columns (every seventh, counted back from the last).
    pub labels: Vec<ColumnLabel>,
    /// The plot's left edge (where the grid lines start).
    pub plot_left: f64,
    /// The plot's right edge.
    pub plot_right: f64,
    /// The base line's height (value zero).
    pub baseline: f64,
    /// Where the value axis' labels end (they are right-aligned).
    pub value_label_x: f64,
    /// The column labels' base line.
    pub column_label_y: f64,
}

impl StackedBars {
    /// Lays out `series` stacked in `columns.len()` columns labelled by
    /// `columns` (a series' missing values count as zero).
    pub fn new(columns: &[String], series: &[Series]) -> Self {
        let n = columns.len().max(1);
        let plot_height = HEIGHT - TOP - BOTTOM;
        let slot = (WIDTH - LEFT - RIGHT) / n as f64;
        let bar = slot * BAR_FILL;
        let totals: Vec<i64> =
            (0..n).map(|i| series.iter().map(|s| s.values.get(i).copied().unwrap_or(0).max(0)).sum()).collect();
        let (step, top) = scale(totals.iter().copied().max().unwrap_or(0));
        let baseline = TOP + plot_height;
        let height_of = |v: i64| v as f64 * plot_height / top as f64;
        let mut segments = Vec::new();
        for (i, day) in columns.iter().enumerate() {
            let mut y = baseline;
            let x = LEFT + i as f64 * slot + (slot - bar) / 2.0;
            for s in series {
                let v = s.values.get(i).copied().unwrap_or(0);
                if v <= 0 {
                    continue;
                }
                let h = height_of(v);
                y -= h;
                segments.push(Segment {
                    x: round(x),
                    y: round(y),
                    width: round(bar),
                    height: round(h),
                    color: s.color,
                    title: format!("{day}: {v} {}", s.label),
                });
            }
        }
        let ticks =
            (0..=top / step).map(|k| Tick { y: round(baseline - height_of(k * step)), value: k * step }).collect();
        let last = columns.len().saturating_sub(1);
        let labels = columns
            .iter()
            .enumerate()
            .filter(|(i, _)| (last - i).is_multiple_of(7))
            .map(|(i, c)| ColumnLabel { x: round(LEFT + (i as f64 + 0.5) * slot), text: c.clone() })
            .collect();
        Self {
            segments,
            ticks,
            labels,
            plot_left: LEFT,
            plot_right: WIDTH - RIGHT,
            baseline,
            value_label_x: LEFT - 6.0,
            column_label_y: baseline + 18.0,
        }
    }
}

/// The value axis for a largest value `max`: (tick step, top of the axis),
/// the step 1, 2 or 5 times a power of ten, at most [`MAX_TICKS`] steps up
/// to a top at or above `max` (an empty chart's axis goes to 1).
pub fn scale(max: i64) -> (i64, i64) {
    let max = max.max(1);
    let mut magnitude = 1_i64;
    loop {
        for m in [1, 2, 5] {
            let step = magnitude.saturating_mul(m);
            let steps = max / step + i64::from(max % step != 0);
            if steps <= MAX_TICKS {
                return (step, steps.saturating_mul(step));
            }
        }
        magnitude = magnitude.saturating_mul(10);
    }
}

/// `v` to two decimals (shorter SVG, same picture).
fn round(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn days(n: usize) -> Vec<String> {
        (1..=n).map(|d| format!("06-{d:02}")).collect()
    }

    #[test]
    fn the_axis_steps_are_round_and_the_top_covers_the_largest_value() {
        assert_eq!(scale(0), (1, 1));
        assert_eq!(scale(1), (1, 1));
        assert_eq!(scale(3), (1, 3));
        assert_eq!(scale(5), (1, 5));
        assert_eq!(scale(6), (2, 6));
        assert_eq!(scale(11), (5, 15));
        assert_eq!(scale(26), (10, 30));
        assert_eq!(scale(1234), (500, 1500));
        assert_eq!(scale(100_000), (20_000, 100_000));
        assert_eq!(scale(i64::MAX), (2_000_000_000_000_000_000, i64::MAX), "no overflow");
        for max in 0..3000 {
            let (step, top) = scale(max);
            assert!(top >= max && top / step <= MAX_TICKS && top % step == 0, "{max}");
        }
    }

    #[test]
    fn segments_stack_bottom_up_and_the_tallest_column_reaches_the_top() {
        let series = [
            Series { label: "Valid".into(), color: "#1a7f37", values: vec![4, 0, 1] },
            Series { label: "Revoked".into(), color: "#cf222e", values: vec![1, 0, 0] },
        ];
        let chart = StackedBars::new(&days(3), &series);
        // Column 0: 4 valid under 1 revoked; column 1 is empty; column 2: 1 valid.
        assert_eq!(chart.segments.len(), 3);
        let (valid, revoked) = (&chart.segments[0], &chart.segments[1]);
        assert_eq!(valid.title, "06-01: 4 Valid");
        assert_eq!(revoked.title, "06-01: 1 Revoked");
        assert!((valid.y + valid.height - chart.baseline).abs() < 0.02, "the first segment sits on the base line");
        assert!((revoked.y + revoked.height - valid.y).abs() < 0.02, "the next one sits on it");
        assert!((valid.height - 4.0 * revoked.height).abs() < 0.05, "heights are proportional");
        let top_tick = chart.ticks.last().unwrap();
        assert_eq!(top_tick.value, 5);
        assert!((revoked.y - top_tick.y).abs() < 0.02, "a total of 5 reaches the top of a 0–5 axis");
        assert_eq!(chart.ticks.first().unwrap(), &Tick { y: chart.baseline, value: 0 });
        // Bars stay inside the plot, left to right, without overlapping.
        let xs: Vec<f64> = chart.segments.iter().map(|s| s.x).collect();
        assert!(xs[0] >= chart.plot_left && xs[2] + chart.segments[2].width <= chart.plot_right);
        assert!(xs[0] == xs[1] && xs[2] > xs[0] + valid.width);
    }

    #[test]
    fn an_empty_chart_has_an_axis_and_no_bars() {
        let chart = StackedBars::new(&days(30), &[Series { label: "Valid".into(), color: "#000", values: vec![] }]);
        assert!(chart.segments.is_empty());
        assert_eq!(chart.ticks.iter().map(|t| t.value).collect::<Vec<_>>(), [0, 1]);
        // Every seventh day is labelled, counted back from the last.
        let labels: Vec<&str> = chart.labels.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(labels, ["06-02", "06-09", "06-16", "06-23", "06-30"]);
    }

    #[test]
    fn negative_values_are_not_drawn() {
        let chart = StackedBars::new(&days(1), &[Series { label: "x".into(), color: "#000", values: vec![-3] }]);
        assert!(chart.segments.is_empty());
    }
}
