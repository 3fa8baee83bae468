//! Python semantics for JSON values: `json.dumps` encoding, `str()`, truthiness
//! and `str.strip()`, so the server matches what upstream clients were built against.
//!
//! Numbers keep their source text (serde_json's `arbitrary_precision`): integers of
//! any size pass through like Python ints, and floats are re-rendered with Python's
//! `repr` rules.

use serde_json::{Number, Value};
use std::fmt::Write;

/// Encodes `value` as `json.dumps(value)` does with default arguments.
pub fn dumps(value: &Value) -> String {
    let mut out = String::with_capacity(64);
    write_value(&mut out, value);
    out
}

/// Appends the `json.dumps` encoding of `value` to `out`.
pub fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_str(out, key);
                out.push_str(": ");
                write_value(out, item);
            }
            out.push('}');
        }
    }
}

/// Appends a JSON string literal with `ensure_ascii` escaping.
pub fn write_str(out: &mut String, s: &str) {
    out.push('"');
    let bytes = s.as_bytes();
    // `bytes[plain..at]` goes out as it is; `at` is always on a char boundary.
    let mut plain = 0;
    let mut at = 0;
    while at < bytes.len() {
        if let Some(chunk) = bytes.get(at..at + 8) {
            if chunk_is_plain(chunk) {
                at += 8;
                continue;
            }
        }
        let byte = bytes[at];
        if is_plain(byte) {
            at += 1;
            continue;
        }
        out.push_str(&s[plain..at]);
        let Some(ch) = s[at..].chars().next() else {
            break;
        };
        at += ch.len_utf8();
        plain = at;
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            _ => {
                let mut units = [0u16; 2];
                for unit in ch.encode_utf16(&mut units) {
                    push_unicode_escape(out, *unit);
                }
            }
        }
    }
    out.push_str(&s[plain..]);
    out.push('"');
}

/// `\u` and four lowercase hex digits, as Python writes them.
fn push_unicode_escape(out: &mut String, unit: u16) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push_str("\\u");
    for shift in [12, 8, 4, 0] {
        out.push(char::from(HEX[usize::from((unit >> shift) & 0xf)]));
    }
}

/// Printable ASCII other than `"` and `\`: written without escaping.
fn is_plain(byte: u8) -> bool {
    (b' '..=b'~').contains(&byte) && byte != b'"' && byte != b'\\'
}

/// [`is_plain`] for 8 bytes at once (user data is mostly plain ASCII).
fn chunk_is_plain(chunk: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGH: u64 = ONES << 7;
    let Ok(bytes) = <[u8; 8]>::try_from(chunk) else {
        return false;
    };
    let word = u64::from_ne_bytes(bytes);
    // Whether some byte of `v` is zero (exact as a yes/no answer).
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH != 0;
    let below_space = word.wrapping_sub(ONES * 0x20) & !word & HIGH != 0;
    let high_bit = word & HIGH != 0;
    !(below_space
        || high_bit
        || has_zero(word ^ (ONES * u64::from(b'"')))
        || has_zero(word ^ (ONES * u64::from(b'\\')))
        || has_zero(word ^ (ONES * 0x7f)))
}

fn write_number(out: &mut String, n: &Number) {
    let text = n.to_string();
    if is_float_literal(&text) {
        match text.parse::<f64>() {
            Ok(f) => write_float(out, f),
            Err(_) => out.push_str(&text),
        }
    } else if text == "-0" {
        out.push('0');
    } else {
        out.push_str(&text);
    }
}

fn is_float_literal(text: &str) -> bool {
    text.contains(['.', 'e', 'E'])
}

/// Appends a float as `json.dumps` does (`repr`, with `Infinity`/`NaN` tokens).
fn write_float(out: &mut String, f: f64) {
    if f.is_nan() {
        out.push_str("NaN");
    } else if f.is_infinite() {
        out.push_str(if f > 0.0 { "Infinity" } else { "-Infinity" });
    } else {
        out.push_str(&float_repr(f));
    }
}

/// Python's `repr(float)` for a finite `f`: shortest round-trip digits,
/// positional notation for decimal exponents in (-4, 16], scientific otherwise
/// (`1e+16`, `1e-05`).
pub fn float_repr(f: f64) -> String {
    // `{:e}` gives the shortest round-trip digits, e.g. "-1.5e-7" or "0e0".
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let decpt = exp + 1;
    let ndigits = digits.len() as i32;
    let mut out = String::with_capacity(digits.len() + 8);
    if negative {
        out.push('-');
    }
    if decpt > -4 && decpt <= 16 {
        if decpt <= 0 {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-decpt) as usize));
            out.push_str(&digits);
        } else if decpt >= ndigits {
            out.push_str(&digits);
            out.extend(std::iter::repeat_n('0', (decpt - ndigits) as usize));
            out.push_str(".0");
        } else {
            let (int_part, frac) = digits.split_at(decpt as usize);
            out.push_str(int_part);
            out.push('.');
            out.push_str(frac);
        }
    } else {
        let (first, rest) = digits.split_at(1);
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        let e = decpt - 1;
        let _ = write!(out, "e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs());
    }
    out
}

/// Python's `str(value)` for a value decoded by `json.loads`.
pub fn py_str(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => py_repr(other),
    }
}

/// Python's `repr(value)` for a value decoded by `json.loads`.
pub fn py_repr(value: &Value) -> String {
    match value {
        Value::Null => "None".to_owned(),
        Value::Bool(true) => "True".to_owned(),
        Value::Bool(false) => "False".to_owned(),
        Value::Number(n) => {
            let mut out = String::new();
            write_number(&mut out, n);
            match out.as_str() {
                "NaN" => "nan".to_owned(),
                "Infinity" => "inf".to_owned(),
                "-Infinity" => "-inf".to_owned(),
                _ => out,
            }
        }
        Value::String(s) => py_repr_str(s),
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(py_repr).collect();
            format!("[{}]", inner.join(", "))
        }
        Value::Object(map) => {
            let inner: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", py_repr_str(k), py_repr(v)))
                .collect();
            format!("{{{}}}", inner.join(", "))
        }
    }
}

fn py_repr_str(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for ch in s.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Python truthiness of a decoded JSON value.
pub fn py_truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(items) => !items.is_empty(),
        Value::Object(map) => !map.is_empty(),
    }
}

/// Python's `str.strip()` with no arguments (Unicode whitespace, including the
/// ASCII separators U+001C..U+001F that Rust's `trim` keeps).
pub fn py_strip(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(text: &str) -> Value {
        serde_json::from_str(text).expect("test JSON")
    }

    #[test]
    fn separators_and_key_order_match_python() {
        let v = parse(r#"{"type":"error","data":{"message":"Invalid JSON"}}"#);
        assert_eq!(
            dumps(&v),
            r#"{"type": "error", "data": {"message": "Invalid JSON"}}"#
        );
        assert_eq!(
            dumps(&parse(r#"{"b":1,"a":[1,2,{}],"c":[]}"#)),
            r#"{"b": 1, "a": [1, 2, {}], "c": []}"#
        );
    }

    #[test]
    fn strings_are_ascii_escaped_like_python() {
        assert_eq!(dumps(&json!("héllo")), r#""h\u00e9llo""#);
        assert_eq!(dumps(&json!("😀")), r#""\ud83d\ude00""#);
        assert_eq!(
            dumps(&json!("a\"b\\c\n\r\t\u{8}\u{c}")),
            r#""a\"b\\c\n\r\t\b\f""#
        );
        assert_eq!(dumps(&json!("\u{1}\u{7f}~")), r#""\u0001\u007f~""#);
    }

    /// The escaping rule one char at a time, as Python's encoder states it.
    fn reference_str(s: &str) -> String {
        let mut out = String::from('"');
        for ch in s.chars() {
            match ch {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                ' '..='~' => out.push(ch),
                _ => {
                    let mut units = [0u16; 2];
                    for unit in ch.encode_utf16(&mut units) {
                        let _ = write!(out, "\\u{unit:04x}");
                    }
                }
            }
        }
        out.push('"');
        out
    }

    proptest::proptest! {
        #[test]
        fn string_escaping_matches_the_rule(s in "(\\PC|[\\x00-\\x7f]|é|😀){0,40}") {
            let mut out = String::new();
            write_str(&mut out, &s);
            proptest::prop_assert_eq!(out, reference_str(&s));
        }
    }

    #[test]
    fn every_ascii_byte_in_every_chunk_position_is_escaped_right() {
        for byte in 0u8..=0x7f {
            for position in 0..10 {
                let mut s = "abcdefghij".to_owned();
                s.replace_range(position..=position, &char::from(byte).to_string());
                let mut out = String::new();
                write_str(&mut out, &s);
                assert_eq!(out, reference_str(&s), "byte {byte:#x} at {position}");
            }
        }
    }

    #[test]
    fn floats_follow_python_repr() {
        let cases = [
            ("1.0", "1.0"),
            ("1e16", "1e+16"),
            ("1.5e16", "1.5e+16"),
            ("1e15", "1000000000000000.0"),
            ("0.0001", "0.0001"),
            ("0.00001", "1e-05"),
            ("-0.0", "-0.0"),
            ("0.1", "0.1"),
            ("123.456", "123.456"),
            ("1E2", "100.0"),
            ("1e400", "Infinity"),
            ("-1e400", "-Infinity"),
            ("2.5e-300", "2.5e-300"),
        ];
        for (input, expected) in cases {
            assert_eq!(dumps(&parse(input)), expected, "input {input}");
        }
    }

    #[test]
    fn integers_keep_every_digit() {
        assert_eq!(
            dumps(&parse("123456789012345678901234567890")),
            "123456789012345678901234567890"
        );
        assert_eq!(dumps(&parse("-0")), "0");
        assert_eq!(dumps(&parse("-17")), "-17");
    }

    #[test]
    fn py_str_matches_python() {
        assert_eq!(py_str(&parse("123")), "123");
        assert_eq!(py_str(&parse("1.0")), "1.0");
        assert_eq!(py_str(&parse("true")), "True");
        assert_eq!(py_str(&parse("null")), "None");
        assert_eq!(py_str(&parse(r#"[1, "a", null]"#)), "[1, 'a', None]");
        assert_eq!(py_str(&parse(r#"{"k": "it's"}"#)), r#"{'k': "it's"}"#);
        assert_eq!(py_str(&parse(r#""dworld""#)), "dworld");
    }

    #[test]
    fn truthiness_matches_python() {
        for falsy in ["null", "false", "0", "0.0", "\"\"", "[]", "{}"] {
            assert!(!py_truthy(&parse(falsy)), "{falsy}");
        }
        for truthy in ["true", "1", "-0.5", "\"x\"", "[0]", "{\"a\":0}"] {
            assert!(py_truthy(&parse(truthy)), "{truthy}");
        }
    }

    #[test]
    fn strip_matches_python_whitespace() {
        assert_eq!(py_strip("  dworld \t\n"), "dworld");
        assert_eq!(py_strip("\u{1c}\u{1f}\u{a0}x\u{3000}"), "x");
        assert_eq!(py_strip(" \u{200b} "), "\u{200b}");
    }
}
