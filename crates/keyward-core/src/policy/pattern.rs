//! The two wildcards of the policy language, `*` and `?`, as Action, Resource,
//! `StringLike` and `ArnLike` use them.
//!
//! A pattern is matched either as policy text, where every `*` and `?` is a wildcard, or
//! as `Token`s, where a `*` or `?` may also stand for itself: a policy variable's value
//! and the `${*}` / `${?}` escapes are literal text inside a pattern.

/// One element of a compiled pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Token {
    /// `*`: any run of characters.
    Any,
    /// `?`: exactly one character.
    One,
    /// A byte that must appear as itself (one byte of a UTF-8 sequence).
    Byte(u8),
}

/// What a pattern is made of: bytes of policy text, or tokens.
trait Symbol: Copy {
    fn token(self) -> Token;
}

impl Symbol for u8 {
    fn token(self) -> Token {
        match self {
            b'*' => Token::Any,
            b'?' => Token::One,
            b => Token::Byte(b),
        }
    }
}

impl Symbol for Token {
    fn token(self) -> Token {
        self
    }
}

/// Whether `text` matches `pattern`: `*` matches any run of characters, `:` and `/`
/// included, and `?` exactly one character. With `fold_case`, ASCII letters compare
/// case-insensitively, as action names do (they are ASCII).
///
/// Greedy matching with one backtrack point: linear in practice, and never worse than
/// `pattern.len() * text.len()`, so a hostile pattern cannot stall evaluation.
pub(super) fn wildcard_match(pattern: &str, text: &str, fold_case: bool) -> bool {
    symbols_match(pattern.as_bytes(), text.as_bytes(), fold_case)
}

/// `wildcard_match` for a pattern of tokens, whose literal bytes may be `*` or `?`.
pub(super) fn tokens_match(pattern: &[Token], text: &str, fold_case: bool) -> bool {
    symbols_match(pattern, text.as_bytes(), fold_case)
}

fn symbols_match<S: Symbol>(pattern: &[S], text: &[u8], fold_case: bool) -> bool {
    let same = |a: u8, b: u8| a == b || (fold_case && a.eq_ignore_ascii_case(&b));
    let (mut p, mut t) = (0, 0);
    // Where the last `*` was, and the text position it has swallowed up to.
    let mut backtrack: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p).map(|s| s.token()) {
            Some(Token::Any) => {
                p += 1;
                backtrack = Some((p, t));
                continue;
            }
            // Both sides stay on character boundaries: literals match whole UTF-8
            // sequences byte for byte, and `?` swallows a whole character.
            Some(Token::One) => {
                p += 1;
                t += utf8_width(text[t]);
                continue;
            }
            Some(Token::Byte(c)) if same(c, text[t]) => {
                p += 1;
                t += 1;
                continue;
            }
            _ => {}
        }
        let Some((star_p, star_t)) = backtrack else {
            return false;
        };
        let next = star_t + utf8_width(text[star_t]);
        backtrack = Some((star_p, next));
        p = star_p;
        t = next;
    }
    pattern[p..].iter().all(|s| s.token() == Token::Any)
}

/// `ArnLike`: each of the six colon-separated parts of the ARN is matched separately, so
/// a `*` in the region cannot run into the account. The last part (the resource) keeps
/// any further colons. A pattern of fewer than six parts (`*`, `arn:aws:*`) is matched
/// against the whole string instead; a value that is not a six-part ARN never matches a
/// six-part pattern.
pub(super) fn arn_match(pattern: &str, arn: &str) -> bool {
    arn_symbols_match(pattern.as_bytes(), arn)
}

/// `arn_match` for a pattern of tokens.
pub(super) fn arn_tokens_match(pattern: &[Token], arn: &str) -> bool {
    arn_symbols_match(pattern, arn)
}

fn arn_symbols_match<S: Symbol>(pattern: &[S], arn: &str) -> bool {
    let colon = |s: &S| s.token() == Token::Byte(b':');
    let pattern_parts: Vec<&[S]> = pattern.splitn(6, colon).collect();
    if pattern_parts.len() < 6 {
        return symbols_match(pattern, arn.as_bytes(), false);
    }
    let arn_parts: Vec<&str> = arn.splitn(6, ':').collect();
    arn_parts.len() == 6
        && pattern_parts
            .iter()
            .zip(&arn_parts)
            .all(|(p, a)| symbols_match(p, a.as_bytes(), false))
}

/// The length of the UTF-8 sequence a leading byte starts.
fn utf8_width(lead: u8) -> usize {
    match lead {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}
