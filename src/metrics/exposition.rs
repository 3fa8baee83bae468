//! Writing the Prometheus text exposition format, version 0.0.4.

use super::histogram::{HistogramSnapshot, BOUNDS};
use std::fmt::Write;

/// `Content-Type` of a scrape answer.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A metric family's `# TYPE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Histogram => "histogram",
        }
    }
}

/// A sample value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    Int(u64),
    Float(f64),
}

impl From<u64> for Number {
    fn from(value: u64) -> Self {
        Self::Int(value)
    }
}

impl From<usize> for Number {
    fn from(value: usize) -> Self {
        Self::Int(value as u64)
    }
}

impl From<f64> for Number {
    fn from(value: f64) -> Self {
        Self::Float(value)
    }
}

/// A scrape answer being written. Names and label names are the caller's
/// constants; label values and help texts are escaped here.
#[derive(Debug, Default)]
pub struct Exposition {
    text: String,
}

impl Exposition {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts a metric family: its `# HELP` and `# TYPE` lines. Its samples
    /// must follow before the next family starts.
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) {
        self.text.push_str("# HELP ");
        self.text.push_str(name);
        self.text.push(' ');
        escape_help(help, &mut self.text);
        self.text.push('\n');
        let _ = writeln!(self.text, "# TYPE {name} {}", kind.as_str());
    }

    /// One sample line: `name{label="value",...} value`.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl Into<Number>) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (label, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                self.text.push_str(label);
                self.text.push_str("=\"");
                escape_label_value(value, &mut self.text);
                self.text.push('"');
            }
            self.text.push('}');
        }
        self.text.push(' ');
        match value.into() {
            Number::Int(n) => {
                let _ = write!(self.text, "{n}");
            }
            Number::Float(x) if x.is_nan() => self.text.push_str("NaN"),
            Number::Float(x) if x.is_infinite() => {
                self.text.push_str(if x > 0.0 { "+Inf" } else { "-Inf" });
            }
            Number::Float(x) => {
                let _ = write!(self.text, "{x}");
            }
        }
        self.text.push('\n');
    }

    /// The `_bucket` (cumulative, `le` last, ending with `+Inf`), `_sum` and
    /// `_count` samples of one histogram series.
    pub fn histogram(&mut self, name: &str, labels: &[(&str, &str)], snapshot: &HistogramSnapshot) {
        let bucket = format!("{name}_bucket");
        let mut with_le = labels.to_vec();
        with_le.push(("le", ""));
        let le = with_le.len() - 1;
        let bounds = BOUNDS.iter().map(|(label, _)| *label).chain(["+Inf"]);
        for (bound, count) in bounds.zip(snapshot.cumulative) {
            with_le[le].1 = bound;
            self.sample(&bucket, &with_le, count);
        }
        self.sample(&format!("{name}_sum"), labels, snapshot.sum_seconds);
        self.sample(&format!("{name}_count"), labels, snapshot.count());
    }

    pub fn finish(self) -> String {
        self.text
    }
}

/// Label values escape `\`, `"` and line feeds.
fn escape_label_value(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Help texts escape `\` and line feeds.
fn escape_help(help: &str, out: &mut String) {
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::histogram::Histogram;
    use std::time::Duration;

    #[test]
    fn family_header_then_samples() {
        let mut out = Exposition::new();
        out.family("x_total", Kind::Counter, "Things.\nMore \\ things.");
        out.sample("x_total", &[], 3u64);
        out.family("y", Kind::Gauge, "A gauge.");
        out.sample("y", &[("a", "1"), ("b", "2")], 0.5);
        assert_eq!(
            out.finish(),
            "# HELP x_total Things.\\nMore \\\\ things.\n\
             # TYPE x_total counter\n\
             x_total 3\n\
             # HELP y A gauge.\n\
             # TYPE y gauge\n\
             y{a=\"1\",b=\"2\"} 0.5\n"
        );
    }

    #[test]
    fn label_values_are_escaped() {
        let mut out = Exposition::new();
        out.sample("m", &[("server", "a\"b\\c\nd}e,f=g")], 1u64);
        assert_eq!(out.finish(), "m{server=\"a\\\"b\\\\c\\nd}e,f=g\"} 1\n");
    }

    #[test]
    fn special_floats_use_prometheus_spelling() {
        let mut out = Exposition::new();
        out.sample("a", &[], f64::NAN);
        out.sample("b", &[], f64::INFINITY);
        out.sample("c", &[], f64::NEG_INFINITY);
        out.sample("d", &[], 0.000_000_1);
        assert_eq!(out.finish(), "a NaN\nb +Inf\nc -Inf\nd 0.0000001\n");
    }

    #[test]
    fn histogram_buckets_are_cumulative_and_end_with_inf() {
        let histogram = Histogram::default();
        histogram.observe(Duration::from_micros(500));
        histogram.observe(Duration::from_millis(200));
        histogram.observe(Duration::from_secs(30));
        let mut out = Exposition::new();
        out.histogram("h_seconds", &[("callback", "c")], &histogram.snapshot());
        let text = out.finish();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), BOUNDS.len() + 3);
        assert_eq!(lines[0], "h_seconds_bucket{callback=\"c\",le=\"0.001\"} 1");
        assert_eq!(lines[6], "h_seconds_bucket{callback=\"c\",le=\"0.1\"} 1");
        assert_eq!(lines[7], "h_seconds_bucket{callback=\"c\",le=\"0.25\"} 2");
        assert_eq!(lines[12], "h_seconds_bucket{callback=\"c\",le=\"10\"} 2");
        assert_eq!(lines[13], "h_seconds_bucket{callback=\"c\",le=\"+Inf\"} 3");
        assert_eq!(lines[14], "h_seconds_sum{callback=\"c\"} 30.2005");
        assert_eq!(lines[15], "h_seconds_count{callback=\"c\"} 3");
    }
}
