//! What Python's `json.loads` accepts beyond strict JSON, for client frames:
//! the bare tokens `NaN`, `Infinity`, `-Infinity`, and lone UTF-16 surrogate
//! escapes such as `"\ud800"`. Upstream parsed frames with Python, so clients
//! sending those get a real answer rather than `Invalid JSON`.

/// Rewrites the Python extensions into strict JSON that leads to the same
/// answer: the float tokens become the strings Python's `str()` gives them
/// (`"nan"`, `"inf"`, `"-inf"`, all a server id can become), lone surrogates
/// become U+FFFD (they can match no server either way). `None` when the text
/// has nothing to rewrite.
pub fn rewrite_extensions(text: &str) -> Option<String> {
    const TOKENS: [(&str, &str); 3] = [
        ("-Infinity", "\"-inf\""),
        ("Infinity", "\"inf\""),
        ("NaN", "\"nan\""),
    ];
    let mut out = String::with_capacity(text.len() + 8);
    let mut rest = text;
    let mut in_string = false;
    let mut rewritten = false;
    while let Some(ch) = rest.chars().next() {
        if in_string {
            let len = match ch {
                '\\' if rest[1..].starts_with('u') => {
                    let (escape, len, fixed) = unicode_escape(rest);
                    out.push_str(escape);
                    rest = &rest[len..];
                    rewritten |= fixed;
                    continue;
                }
                '\\' => 1 + rest[1..].chars().next().map_or(0, char::len_utf8),
                '"' => {
                    in_string = false;
                    1
                }
                _ => ch.len_utf8(),
            };
            out.push_str(&rest[..len]);
            rest = &rest[len..];
            continue;
        }
        if ch == '"' {
            in_string = true;
        } else if let Some((token, replacement)) = TOKENS.iter().find(|(t, _)| rest.starts_with(t))
        {
            out.push_str(replacement);
            rest = &rest[token.len()..];
            rewritten = true;
            continue;
        }
        out.push(ch);
        rest = &rest[ch.len_utf8()..];
    }
    rewritten.then_some(out)
}

/// At a `\u` escape: the text to emit, how much input it covers, and whether it
/// was rewritten. A surrogate pair is kept; a lone surrogate becomes `\ufffd`.
/// Malformed escapes are left for the JSON parser to reject.
fn unicode_escape(rest: &str) -> (&str, usize, bool) {
    let Some(unit) = hex_unit(rest) else {
        return (&rest[..2], 2, false);
    };
    match unit {
        0xD800..=0xDBFF => match hex_unit(&rest[6..]) {
            Some(0xDC00..=0xDFFF) => (&rest[..12], 12, false),
            _ => ("\\ufffd", 6, true),
        },
        0xDC00..=0xDFFF => ("\\ufffd", 6, true),
        _ => (&rest[..6], 6, false),
    }
}

/// The code unit of a `\uXXXX` escape at the start of `text`.
fn hex_unit(text: &str) -> Option<u32> {
    let digits = text.strip_prefix("\\u")?.get(..4)?;
    u32::from_str_radix(digits, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_tokens_outside_strings_become_strings() {
        assert_eq!(
            rewrite_extensions(r#"{"a":NaN,"b":-Infinity}"#).as_deref(),
            Some(r#"{"a":"nan","b":"-inf"}"#)
        );
        assert_eq!(rewrite_extensions(r#"{"a":"NaN \"Infinity\""}"#), None);
    }

    #[test]
    fn lone_surrogates_become_replacement_characters() {
        assert_eq!(
            rewrite_extensions(r#"{"s":"\ud800x"}"#).as_deref(),
            Some(r#"{"s":"\ufffdx"}"#)
        );
        assert_eq!(
            rewrite_extensions(r#"{"s":"\udc00"}"#).as_deref(),
            Some(r#"{"s":"\ufffd"}"#)
        );
        assert_eq!(
            rewrite_extensions(r#"{"s":"\ud83d\ude00 \u00e9"}"#),
            None,
            "pairs are kept"
        );
        assert_eq!(
            rewrite_extensions(r#"{"s":"\u12"}"#),
            None,
            "malformed escapes are left alone"
        );
    }
}
