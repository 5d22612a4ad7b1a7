//! Two small inline SVG chart kinds: horizontal grouped bars and vertical
//! grouped columns. Hand-written because the report must stay one file with
//! no scripts; every bar carries its value as text, so the chart reads (and
//! tests) without guessing lengths.

use std::fmt::Write as _;

use super::escape;

/// One series of a chart: its legend text and colour.
#[derive(Clone, Debug)]
pub struct Series {
    pub name: String,
    pub color: &'static str,
}

impl Series {
    pub fn new(name: &str, color: &'static str) -> Self {
        Self {
            name: name.to_string(),
            color,
        }
    }
}

/// One bar's value: `Some` is drawn to scale; `None` is not drawn (the
/// figure does not apply).
#[derive(Clone, Debug, PartialEq)]
pub struct BarValue {
    pub value: Option<f64>,
    pub text: String,
}

impl BarValue {
    pub fn missing() -> Self {
        Self {
            value: None,
            text: "-".to_string(),
        }
    }
}

/// One category: its label and one value per series.
#[derive(Clone, Debug)]
pub struct Bar {
    pub label: String,
    pub values: Vec<BarValue>,
}

const WIDTH: f64 = 1000.0;

fn legend(out: &mut String, series: &[Series], y: f64) {
    let mut x = 10.0;
    for s in series {
        let _ = write!(
            out,
            "<rect x=\"{x}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{}\"/><text x=\"{}\" y=\"{}\" font-size=\"13\">{}</text>",
            y - 10.0,
            s.color,
            x + 16.0,
            y,
            escape(&s.name)
        );
        x += 30.0 + 8.0 * s.name.chars().count() as f64;
    }
}

fn fmt_num(v: f64) -> String {
    format!("{v:.1}")
}

/// Horizontal grouped bars, one group per category. `max` fixes the scale
/// (1.0 for rates); `None` scales to the largest value.
pub fn hbar(id: &str, series: &[Series], bars: &[Bar], max: Option<f64>) -> String {
    let label_w = 300.0;
    let area = 480.0;
    let bar_h = 16.0;
    let group_h = series.len() as f64 * (bar_h + 3.0) + 10.0;
    let top = 32.0;
    let height = top + group_h * bars.len() as f64 + 10.0;
    let scale = max.unwrap_or_else(|| {
        bars.iter()
            .flat_map(|b| b.values.iter().filter_map(|v| v.value))
            .fold(0.0, f64::max)
    });
    let scale = if scale > 0.0 { scale } else { 1.0 };
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"{id}\" class=\"chart\" width=\"{WIDTH}\" height=\"{}\" viewBox=\"0 0 {WIDTH} {}\" role=\"img\">",
        fmt_num(height),
        fmt_num(height)
    );
    legend(&mut out, series, 16.0);
    for (i, bar) in bars.iter().enumerate() {
        let y0 = top + group_h * i as f64;
        let _ = write!(
            out,
            "<text class=\"label\" x=\"{}\" y=\"{}\" font-size=\"13\" text-anchor=\"end\">{}</text>",
            label_w - 8.0,
            fmt_num(y0 + group_h / 2.0),
            escape(&bar.label)
        );
        for (k, v) in bar.values.iter().enumerate() {
            let y = y0 + k as f64 * (bar_h + 3.0);
            let color = series.get(k).map_or("#4a5568", |s| s.color);
            let (w, fill, class) = match v.value {
                Some(x) => ((x / scale).clamp(0.0, 1.0) * area, color.to_string(), "bar"),
                None => (0.0, "none".to_string(), "bar missing"),
            };
            let series_name = series.get(k).map(|s| s.name.as_str()).unwrap_or_default();
            let _ = write!(
                out,
                "<rect class=\"{class}\" x=\"{label_w}\" y=\"{}\" width=\"{}\" height=\"{bar_h}\" fill=\"{fill}\" data-value=\"{}\"><title>{}: {}</title></rect>",
                fmt_num(y),
                fmt_num(w),
                v.value
                    .map(|x| format!("{x}"))
                    .unwrap_or_else(|| escape(&v.text)),
                escape(&bar.label),
                escape(&format!("{series_name} {}", v.text))
            );
            let _ = write!(
                out,
                "<text class=\"value\" x=\"{}\" y=\"{}\" font-size=\"12\">{}</text>",
                fmt_num(label_w + w + 6.0),
                fmt_num(y + bar_h - 3.0),
                escape(&v.text)
            );
        }
    }
    out.push_str("</svg>");
    out
}

/// Vertical grouped columns, one group per category (for example months).
pub fn columns(id: &str, series: &[Series], bars: &[Bar]) -> String {
    let height = 340.0;
    let top = 50.0;
    let bottom = 290.0;
    let left = 60.0;
    let plot_w = WIDTH - left - 20.0;
    let max = bars
        .iter()
        .flat_map(|b| b.values.iter().filter_map(|v| v.value))
        .fold(0.0, f64::max);
    let max = if max > 0.0 { max } else { 1.0 };
    let group_w = plot_w / bars.len().max(1) as f64;
    let col_w = (group_w - 16.0) / series.len().max(1) as f64;
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"{id}\" class=\"chart\" width=\"{WIDTH}\" height=\"{height}\" viewBox=\"0 0 {WIDTH} {height}\" role=\"img\">"
    );
    legend(&mut out, series, 16.0);
    let _ = write!(
        out,
        "<line x1=\"{left}\" y1=\"{bottom}\" x2=\"{}\" y2=\"{bottom}\" stroke=\"#a0aec0\"/>",
        left + plot_w
    );
    for (i, bar) in bars.iter().enumerate() {
        let gx = left + group_w * i as f64 + 8.0;
        let _ = write!(
            out,
            "<text class=\"label\" x=\"{}\" y=\"{}\" font-size=\"13\" text-anchor=\"middle\">{}</text>",
            fmt_num(gx + (group_w - 16.0) / 2.0),
            bottom + 20.0,
            escape(&bar.label)
        );
        for (k, v) in bar.values.iter().enumerate() {
            let x = gx + col_w * k as f64;
            let color = series.get(k).map_or("#4a5568", |s| s.color);
            let (h, fill, class) = match v.value {
                Some(val) => (
                    (val / max).clamp(0.0, 1.0) * (bottom - top - 20.0),
                    color.to_string(),
                    "bar",
                ),
                None => (0.0, "none".to_string(), "bar missing"),
            };
            let series_name = series.get(k).map(|s| s.name.as_str()).unwrap_or_default();
            let _ = write!(
                out,
                "<rect class=\"{class}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{fill}\" data-value=\"{}\"><title>{}: {}</title></rect>",
                fmt_num(x),
                fmt_num(bottom - h),
                fmt_num(col_w - 4.0),
                fmt_num(h),
                v.value
                    .map(|x| format!("{x}"))
                    .unwrap_or_else(|| escape(&v.text)),
                escape(&bar.label),
                escape(&format!("{series_name} {}", v.text))
            );
            let _ = write!(
                out,
                "<text class=\"value\" x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\">{}</text>",
                fmt_num(x + (col_w - 4.0) / 2.0),
                fmt_num(bottom - h - 4.0),
                escape(&v.text)
            );
        }
    }
    out.push_str("</svg>");
    out
}
