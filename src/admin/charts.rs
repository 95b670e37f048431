//! Server-rendered SVG bar charts for the console (issue 15). Pure functions: numbers in, an
//! SVG string out. Pages carry a strict CSP, so there is no `style` attribute: series are
//! styled only by `class="series-N"` (and lines and text by `axis`, `grid`, `label`) from the
//! stylesheet, with presentation attributes as the fallback. Every text embedded here is
//! escaped, which is what lets the template include the SVG unescaped.

use std::fmt::Write;

use crate::clock::UnixTime;

/// Classes the stylesheet colours: `series-0` … `series-5`, then again from 0.
pub const SERIES_CLASSES: usize = 6;
/// Fill colours used when the stylesheet is missing (presentation attributes lose to CSS).
const FALLBACK_FILLS: [&str; SERIES_CLASSES] = [
    "#2563eb", "#d97706", "#059669", "#dc2626", "#7c3aed", "#0891b2",
];

const WIDTH: f64 = 640.0;
const PLOT_HEIGHT: f64 = 180.0;
const LEFT: f64 = 48.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
/// Below the plot: the x-axis labels.
const X_LABELS: f64 = 22.0;
const LEGEND_ROW: f64 = 20.0;
const FONT: f64 = 11.0;
/// Rough width of one character at `FONT`, to lay out labels and the legend.
const CHAR_WIDTH: f64 = 6.6;

/// One bucket of the x axis: the time it starts and the short label under it ('' for none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    pub start: UnixTime,
    pub label: String,
}

impl Bucket {
    /// `2026-12-02T03:00:00Z`, for `<time datetime>`.
    pub fn datetime(&self) -> String {
        rfc3339(self.start)
    }

    /// `2026-12-02 03:00 UTC`, for people.
    pub fn display(&self) -> String {
        let t = rfc3339(self.start);
        format!(
            "{} {} UTC",
            &t[..10.min(t.len())],
            t.get(11..16).unwrap_or("")
        )
    }
}

fn rfc3339(t: UnixTime) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(u64::try_from(t).unwrap_or(0));
    humantime::format_rfc3339_seconds(at).to_string()
}

/// A named series, one value per bucket; `None` where nothing was measured (a gauge not
/// sampled that hour), which draws no bar and shows as "–" in the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Series {
    pub name: String,
    pub values: Vec<Option<u64>>,
}

/// What a chart shows: buckets of `bucket_secs` and the series over them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartData {
    pub bucket_secs: i64,
    pub buckets: Vec<Bucket>,
    pub series: Vec<Series>,
}

/// How the series of a bucket stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// On top of each other: parts of one total (tokens by grant, sign-ins by outcome).
    Stacked,
    /// Side by side: different quantities (sessions and revocations).
    Grouped,
}

/// A rendered chart: the SVG, and what the page shows beside it (the caption and the table
/// of the numbers).
#[derive(Debug, Clone)]
pub struct Chart {
    /// The figure's id on the page (the SVG's own ids derive from it).
    pub id: String,
    pub title: String,
    pub data: ChartData,
    pub svg: String,
}

/// One line of the numbers table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub datetime: String,
    pub display: String,
    pub cells: Vec<String>,
}

impl Chart {
    pub fn new(id: &str, title: &str, data: ChartData, layout: Layout) -> Self {
        let svg = svg(id, title, &data, layout);
        Self {
            id: id.to_string(),
            title: title.to_string(),
            data,
            svg,
        }
    }

    /// Heading of the table's first column.
    pub fn bucket_heading(&self) -> String {
        match self.data.bucket_secs {
            3600 => "Hour".to_string(),
            s if s % 3600 == 0 => format!("{} hours from", s / 3600),
            s => format!("{s} s from"),
        }
    }

    /// The numbers, one row per bucket (the table under the chart).
    pub fn rows(&self) -> Vec<Row> {
        self.data
            .buckets
            .iter()
            .enumerate()
            .map(|(i, b)| Row {
                datetime: b.datetime(),
                display: b.display(),
                cells: self
                    .data
                    .series
                    .iter()
                    .map(|s| match s.values.get(i).copied().flatten() {
                        Some(v) => v.to_string(),
                        None => "–".to_string(),
                    })
                    .collect(),
            })
            .collect()
    }
}

/// Escapes text for SVG/XML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters are not allowed in XML 1.0 text.
            c if c.is_control() && c != '\n' && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

/// The largest value the y axis must reach.
fn peak(data: &ChartData, layout: Layout) -> u64 {
    (0..data.buckets.len())
        .map(|i| {
            let values = data
                .series
                .iter()
                .map(|s| s.values.get(i).copied().flatten().unwrap_or(0));
            match layout {
                Layout::Stacked => values.sum(),
                Layout::Grouped => values.max().unwrap_or(0),
            }
        })
        .max()
        .unwrap_or(0)
}

/// A y-axis top and tick step that are round numbers (1, 2 or 5 × 10ⁿ) at or above `peak`,
/// with at most five ticks.
pub fn axis(peak: u64) -> (u64, u64) {
    if peak == 0 {
        return (1, 1);
    }
    let rough = peak.div_ceil(4).max(1);
    let mut magnitude = 1u64;
    while magnitude.saturating_mul(10) <= rough {
        magnitude = magnitude.saturating_mul(10);
    }
    let step = [1, 2, 5, 10]
        .iter()
        .map(|m| magnitude.saturating_mul(*m))
        .find(|s| *s >= rough)
        .unwrap_or(rough);
    (peak.div_ceil(step).saturating_mul(step), step)
}

/// Places the legend's entries in rows that fit the width: (row, x) of each.
fn legend_layout(names: &[&str]) -> (Vec<(usize, f64)>, usize) {
    let max_x = WIDTH - RIGHT;
    let mut row = 0;
    let mut x = LEFT;
    let mut placed = Vec::with_capacity(names.len());
    for name in names {
        let w = 12.0 + 6.0 + name.chars().count() as f64 * CHAR_WIDTH + 18.0;
        if x + w > max_x && x > LEFT {
            row += 1;
            x = LEFT;
        }
        placed.push((row, x));
        x += w;
    }
    let rows = if names.is_empty() { 0 } else { row + 1 };
    (placed, rows)
}

fn class_of(series: usize) -> (String, &'static str) {
    let n = series % SERIES_CLASSES;
    (format!("series-{n}"), FALLBACK_FILLS[n])
}

/// The text alternative: totals per series and the busiest bucket.
fn description(data: &ChartData, layout: Layout) -> String {
    if data.series.is_empty() || peak(data, layout) == 0 {
        return "No data in this period.".to_string();
    }
    let mut parts: Vec<String> = Vec::new();
    for s in &data.series {
        let measured: Vec<u64> = s.values.iter().flatten().copied().collect();
        match layout {
            Layout::Stacked => {
                parts.push(format!(
                    "{}: {} in all",
                    s.name,
                    measured.iter().sum::<u64>()
                ));
            }
            Layout::Grouped => {
                let (Some(min), Some(max)) = (measured.iter().min(), measured.iter().max()) else {
                    parts.push(format!("{}: not measured", s.name));
                    continue;
                };
                let last = measured.last().copied().unwrap_or(0);
                parts.push(format!(
                    "{}: between {min} and {max}, latest {last}",
                    s.name
                ));
            }
        }
    }
    let mut text = parts.join("; ");
    if layout == Layout::Stacked {
        let totals = (0..data.buckets.len()).map(|i| {
            data.series
                .iter()
                .map(|s| s.values.get(i).copied().flatten().unwrap_or(0))
                .sum::<u64>()
        });
        if let Some((i, most)) = totals.enumerate().max_by_key(|(i, t)| (*t, usize::MAX - i))
            && let Some(b) = data.buckets.get(i)
        {
            let _ = write!(text, ". The most, {most}, from {}", b.display());
        }
    }
    text.push('.');
    text
}

/// Renders the chart as an SVG element (no XML prolog) that scales with its container.
pub fn svg(id: &str, title: &str, data: &ChartData, layout: Layout) -> String {
    let id = escape(id);
    let names: Vec<&str> = data.series.iter().map(|s| s.name.as_str()).collect();
    let (legend, legend_rows) = legend_layout(&names);
    let plot_bottom = TOP + PLOT_HEIGHT;
    let height = plot_bottom + X_LABELS + legend_rows as f64 * LEGEND_ROW + 6.0;
    let plot_width = WIDTH - LEFT - RIGHT;
    let (top, step) = axis(peak(data, layout));
    let y_of = |v: u64| plot_bottom - v as f64 / top as f64 * PLOT_HEIGHT;

    let mut out = String::with_capacity(4096);
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height:.0}" role="img" aria-labelledby="{id}-title {id}-desc" font-size="{FONT}" font-family="sans-serif">"#
    );
    let _ = write!(
        out,
        r#"<title id="{id}-title">{}</title><desc id="{id}-desc">{}</desc>"#,
        escape(title),
        escape(&description(data, layout))
    );

    // Grid lines and y labels.
    for tick in 0..=(top / step) {
        let v = tick * step;
        let y = y_of(v);
        let class = if v == 0 { "axis" } else { "grid" };
        let stroke = if v == 0 { "#888888" } else { "#dddddd" };
        let _ = write!(
            out,
            r#"<line class="{class}" x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{stroke}" stroke-width="1"/>"#,
            WIDTH - RIGHT
        );
        let _ = write!(
            out,
            r##"<text class="label" x="{:.1}" y="{:.1}" text-anchor="end" fill="#555555">{v}</text>"##,
            LEFT - 6.0,
            y + FONT / 3.0
        );
    }

    // Bars.
    let n = data.buckets.len().max(1);
    let slot = plot_width / n as f64;
    let bar = slot * 0.7;
    for (i, bucket) in data.buckets.iter().enumerate() {
        let x0 = LEFT + i as f64 * slot + (slot - bar) / 2.0;
        let mut stacked = 0u64;
        let groups = data.series.len().max(1) as f64;
        for (k, s) in data.series.iter().enumerate() {
            let Some(value) = s.values.get(i).copied().flatten() else {
                continue;
            };
            if value == 0 {
                continue;
            }
            let (x, w, y, h) = match layout {
                Layout::Stacked => {
                    let y = y_of(stacked + value);
                    let h = y_of(stacked) - y;
                    stacked += value;
                    (x0, bar, y, h)
                }
                Layout::Grouped => {
                    let w = bar / groups;
                    let y = y_of(value);
                    (x0 + k as f64 * w, w, y, plot_bottom - y)
                }
            };
            let (class, fill) = class_of(k);
            let _ = write!(
                out,
                r#"<rect class="{class}" x="{x:.2}" y="{y:.2}" width="{w:.2}" height="{h:.2}" fill="{fill}"><title>{}: {} {value}</title></rect>"#,
                escape(&bucket.display()),
                escape(&s.name),
            );
        }
    }

    // X labels: as many as fit without overlapping.
    let widest = data
        .buckets
        .iter()
        .map(|b| b.label.chars().count())
        .max()
        .unwrap_or(0) as f64
        * CHAR_WIDTH
        + 8.0;
    let labelled: Vec<usize> = (0..data.buckets.len())
        .filter(|i| !data.buckets[*i].label.is_empty())
        .collect();
    let room = (plot_width / widest).floor().max(1.0) as usize;
    let every = labelled.len().div_ceil(room).max(1);
    for i in labelled.into_iter().step_by(every) {
        let x = LEFT + i as f64 * slot + slot / 2.0;
        let _ = write!(
            out,
            r##"<text class="label" x="{x:.1}" y="{:.1}" text-anchor="middle" fill="#555555">{}</text>"##,
            plot_bottom + FONT + 5.0,
            escape(&data.buckets[i].label)
        );
    }

    if peak(data, layout) == 0 {
        let _ = write!(
            out,
            r##"<text class="label" x="{:.1}" y="{:.1}" text-anchor="middle" fill="#555555">No data in this period</text>"##,
            LEFT + plot_width / 2.0,
            TOP + PLOT_HEIGHT / 2.0
        );
    }

    // Legend.
    for (k, (name, (row, x))) in names.iter().zip(&legend).enumerate() {
        let y = plot_bottom + X_LABELS + *row as f64 * LEGEND_ROW + 4.0;
        let (class, fill) = class_of(k);
        let _ = write!(
            out,
            r##"<rect class="{class}" x="{x:.1}" y="{y:.1}" width="12" height="12" fill="{fill}"/><text class="label" x="{:.1}" y="{:.1}" fill="#555555">{}</text>"##,
            x + 18.0,
            y + 10.0,
            escape(name)
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hourly(series: Vec<Series>) -> ChartData {
        let n = series.first().map_or(3, |s| s.values.len());
        ChartData {
            bucket_secs: 3600,
            buckets: (0..n)
                .zip(0i64..)
                .map(|(_, i)| Bucket {
                    start: 1_764_644_400 + i * 3600,
                    label: format!("{:02}:00", 3 + i),
                })
                .collect(),
            series,
        }
    }

    fn series(name: &str, values: &[u64]) -> Series {
        Series {
            name: name.into(),
            values: values.iter().map(|v| Some(*v)).collect(),
        }
    }

    #[test]
    fn buckets_read_as_utc_times() {
        let b = Bucket {
            start: 1_764_644_400,
            label: "03:00".into(),
        };
        assert_eq!(b.datetime(), "2025-12-02T03:00:00Z");
        assert_eq!(b.display(), "2025-12-02 03:00 UTC");
    }

    #[test]
    fn the_axis_ends_on_a_round_number() {
        assert_eq!(axis(0), (1, 1));
        assert_eq!(axis(1), (1, 1));
        assert_eq!(axis(3), (3, 1));
        assert_eq!(axis(7), (8, 2));
        assert_eq!(axis(42), (60, 20));
        assert_eq!(axis(1000), (1000, 500));
        let (top, step) = axis(u64::MAX);
        assert!(top == u64::MAX && step > 0);
    }

    #[test]
    fn each_bar_has_a_title_with_its_number_and_a_series_class() {
        let data = hourly(vec![
            series("client_credentials", &[0, 3, 1]),
            series("refresh_token", &[2, 0, 1]),
        ]);
        let svg = svg("chart-t", "Tokens", &data, Layout::Stacked);
        assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>"));
        assert!(svg.contains(r#"role="img""#));
        assert!(svg.contains(r#"aria-labelledby="chart-t-title chart-t-desc""#));
        assert!(svg.contains(r#"<title id="chart-t-title">Tokens</title>"#));
        assert!(svg.contains("viewBox=\"0 0 640 "));
        assert!(svg.contains("<title>2025-12-02 04:00 UTC: client_credentials 3</title>"));
        assert!(svg.contains("<title>2025-12-02 03:00 UTC: refresh_token 2</title>"));
        // Four non-zero values: four bars (plus two legend swatches).
        assert_eq!(svg.matches("<rect ").count(), 4 + 2);
        assert_eq!(svg.matches(r#"<rect class="series-0""#).count(), 2 + 1);
        assert_eq!(svg.matches(r#"<rect class="series-1""#).count(), 2 + 1);
        assert!(!svg.contains("style="), "the CSP forbids style attributes");
        assert!(svg.contains("client_credentials: 4 in all; refresh_token: 3 in all"));
        assert!(svg.contains("The most, 3, from 2025-12-02 04:00 UTC"));
    }

    #[test]
    fn stacked_bars_sit_on_each_other() {
        let data = hourly(vec![series("a", &[2]), series("b", &[2])]);
        let svg = svg("c", "t", &data, Layout::Stacked);
        // The axis tops at 4: each value is half the plot height (90 of 180).
        assert_eq!(svg.matches(r#"height="90.00""#).count(), 2);
        assert!(svg.contains(r#"y="102.00""#) && svg.contains(r#"y="12.00""#));
    }

    #[test]
    fn every_label_is_escaped() {
        let evil = r#"<script>alert("x")</script>&'"#;
        let mut data = hourly(vec![series(evil, &[1, 0, 0])]);
        data.buckets[0].label = evil.into();
        let svg = svg(evil, evil, &data, Layout::Stacked);
        assert!(!svg.contains("<script"), "{svg}");
        assert!(!svg.contains(r#"alert("x")"#), "{svg}");
        assert!(svg.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;"));
    }

    #[test]
    fn an_empty_chart_says_so() {
        let data = hourly(vec![]);
        let empty = svg("e", "Nothing", &data, Layout::Stacked);
        assert!(empty.contains("No data in this period"));
        assert!(!empty.contains("<rect"));
        let zeros = hourly(vec![series("a", &[0, 0, 0])]);
        let zeros = svg("z", "Zeros", &zeros, Layout::Stacked);
        assert!(zeros.contains("<desc id=\"z-desc\">No data in this period.</desc>"));
        assert_eq!(zeros.matches("<rect ").count(), 1, "the legend swatch only");
    }

    #[test]
    fn grouped_bars_skip_what_was_not_measured() {
        let data = hourly(vec![
            Series {
                name: "sessions".into(),
                values: vec![Some(4), None, Some(2)],
            },
            series("revocations", &[1, 1, 1]),
        ]);
        let chart = Chart::new("g", "Gauges", data, Layout::Grouped);
        assert_eq!(chart.svg.matches("<rect ").count(), 5 + 2);
        assert!(chart.svg.contains("sessions: between 2 and 4, latest 2"));
        let rows = chart.rows();
        assert_eq!(rows[1].cells, ["–", "1"]);
        assert_eq!(rows[0].datetime, "2025-12-02T03:00:00Z");
        assert_eq!(chart.bucket_heading(), "Hour");
    }

    #[test]
    fn axis_labels_thin_out_rather_than_overlap() {
        let values = vec![1; 168];
        let mut data = hourly(vec![series("a", &values)]);
        for (i, b) in data.buckets.iter_mut().enumerate() {
            b.label = format!("label-{i:03}");
        }
        let svg = svg("m", "Many", &data, Layout::Stacked);
        let labels = svg.matches(">label-").count();
        assert!(labels > 3 && labels < 20, "{labels} labels");
        assert!(svg.contains(">label-000<"));
    }

    #[test]
    fn a_long_legend_wraps_and_the_svg_grows() {
        let names: Vec<Series> = (0..12)
            .map(|i| series(&format!("a-rather-long-series-name-{i}"), &[1]))
            .collect();
        let one = svg("a", "t", &hourly(vec![series("a", &[1])]), Layout::Stacked);
        let many = svg("b", "t", &hourly(names), Layout::Stacked);
        let height = |s: &str| {
            let v = s.split("viewBox=\"0 0 640 ").nth(1).unwrap();
            v.split('"').next().unwrap().parse::<f64>().unwrap()
        };
        assert!(height(&many) > height(&one) + 2.0 * LEGEND_ROW);
        assert!(many.contains(r#"class="series-0""#) && many.contains(r#"class="series-5""#));
        assert!(!many.contains("series-6"), "classes wrap around");
    }
}
