//! The `pattern` constraint of a service model.
//!
//! botocore's patterns are Java regular expressions, and AWS checks them as Java's
//! `Pattern.matches` does: the whole value must match, anchored or not. Java's `\w`, `\d` and
//! `\s` are ASCII-only, while the regex crate's are Unicode-aware, so they are rewritten to the
//! ASCII classes before compiling. A pattern the regex crate still cannot compile (Java-only
//! syntax such as surrogate escapes or possessive quantifiers) is kept as text and not checked.

use regex::{Regex, RegexBuilder};

/// A model pattern: its text, as AWS quotes it in messages, and the compiled matcher.
#[derive(Debug)]
pub(crate) struct Pattern {
    pub(crate) source: String,
    /// `None` when the pattern does not compile in the regex crate: the check is skipped.
    regex: Option<Regex>,
}

impl Pattern {
    pub(crate) fn new(source: &str) -> Self {
        let regex = RegexBuilder::new(&format!("^(?:{})$", translate(source)))
            .size_limit(1 << 22)
            .build()
            .ok();
        Self {
            source: source.to_owned(),
            regex,
        }
    }

    /// `None` when the pattern could not be compiled and so cannot be checked.
    pub(crate) fn matches(&self, value: &str) -> Option<bool> {
        self.regex.as_ref().map(|regex| regex.is_match(value))
    }

    pub(crate) fn is_checked(&self) -> bool {
        self.regex.is_some()
    }
}

/// Rewrites Java's ASCII shorthand classes to the regex crate's ASCII classes, inside and
/// outside bracket expressions; everything else passes through unchanged.
fn translate(java: &str) -> String {
    let mut out = String::with_capacity(java.len() + 16);
    let mut chars = java.chars().peekable();
    let mut class_depth = 0usize;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(escaped) = chars.next() else {
                    out.push('\\');
                    break;
                };
                match ascii_class(escaped) {
                    Some(class) if class_depth > 0 => out.push_str(class),
                    Some(class) => {
                        out.push('[');
                        out.push_str(class);
                        out.push(']');
                    }
                    None => {
                        out.push('\\');
                        out.push(escaped);
                    }
                }
            }
            '[' => {
                class_depth += 1;
                out.push('[');
                if chars.peek() == Some(&'^') {
                    out.push('^');
                    chars.next();
                }
                // A `]` right after the opening bracket is a literal in both dialects.
                if chars.peek() == Some(&']') {
                    out.push_str("\\]");
                    chars.next();
                }
            }
            ']' if class_depth > 0 => {
                class_depth -= 1;
                out.push(']');
            }
            _ => out.push(c),
        }
    }
    out
}

fn ascii_class(escape: char) -> Option<&'static str> {
    Some(match escape {
        'w' => "[:word:]",
        'W' => "[:^word:]",
        'd' => "[:digit:]",
        'D' => "[:^digit:]",
        's' => "[:space:]",
        'S' => "[:^space:]",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(pattern: &str, value: &str) -> bool {
        Pattern::new(pattern).matches(value) == Some(true)
    }

    #[test]
    fn matches_the_whole_value_like_java() {
        assert!(check("[\\w]+", "default"));
        assert!(!check("[\\w]+", "not default"));
        assert!(check("^[0-9]{2}:[0-9]{2}", "12:30"));
        assert!(!check("^[0-9]{2}:[0-9]{2}", "12:30x"));
        assert!(check("[\\u0020-\\u00FF]*", ""));
        assert!(!check("[\\u0020-\\u00FF]*", "tab\there"));
    }

    #[test]
    fn shorthand_classes_are_ascii_only() {
        assert!(!check("[\\w]+", "caf\u{e9}"));
        assert!(!check("\\d+", "\u{0663}"));
        assert!(check(
            "^[\\w+=,.@:/-]+$",
            "arn:aws:iam::000000000000:user/a+b=c,d.e@f"
        ));
        assert!(check("^[a-zA-Z0-9:/_\\s.-]+$", "key material 1"));
        assert!(!check("^[a-zA-Z0-9:/_\\s.-]+$", "key\u{a0}material"));
        assert!(check("\\S+", "x") && !check("\\S+", "x y"));
    }

    #[test]
    fn kms_patterns_behave() {
        let alias = "^[a-zA-Z0-9:/_-]+$";
        assert!(check(alias, "alias/my-key_1"));
        assert!(!check(alias, "alias/my key"));
        let xks = "^(/[a-zA-Z0-9\\/_-]+/kms/xks/v\\d{1,2})$|^(/kms/xks/v\\d{1,2})$";
        assert!(check(xks, "/kms/xks/v1") && check(xks, "/a/b/kms/xks/v12"));
        assert!(!check(xks, "/kms/xks/v123"));
        assert!(check("^[a-zA-Z0-9-_.]+$", "a-b_c.d"));
    }

    #[test]
    fn java_only_syntax_is_left_unchecked() {
        let surrogates =
            Pattern::new("[\\u0020-\\uD7FF\\uE000-\\uFFFD\\uD800\\uDC00-\\uDBFF\\uDFFF\\t]*");
        assert!(!surrogates.is_checked());
        assert_eq!(surrogates.matches("anything"), None);
    }
}
