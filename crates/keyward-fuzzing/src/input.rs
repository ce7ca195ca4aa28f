//! Splitting one fuzz input into the pieces an entry point needs. Text targets split on
//! newlines so that seeds stay readable; binary targets take a leading mode byte.

/// The bytes before the first `\n` (without a trailing `\r`) and the bytes after it; the
/// whole input and nothing when there is no newline.
pub(crate) fn split_line(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|b| *b == b'\n') {
        Some(at) => {
            let line = &data[..at];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            (line, &data[at + 1..])
        }
        None => (data, &[]),
    }
}

/// The first `n` lines (missing ones empty) and the rest.
pub(crate) fn split_lines<const N: usize>(mut data: &[u8]) -> ([&[u8]; N], &[u8]) {
    let mut lines: [&[u8]; N] = [&[]; N];
    for line in &mut lines {
        let (first, rest) = split_line(data);
        *line = first;
        data = rest;
    }
    (lines, data)
}

/// The first byte and the rest; zero and nothing for an empty input.
pub(crate) fn split_byte(data: &[u8]) -> (u8, &[u8]) {
    match data.split_first() {
        Some((first, rest)) => (*first, rest),
        None => (0, &[]),
    }
}

/// `data` with one byte changed (the one at `seed` modulo the length), for tampering
/// properties; `None` for an empty input.
pub(crate) fn flip_one(data: &[u8], seed: usize) -> Option<Vec<u8>> {
    if data.is_empty() {
        return None;
    }
    let mut out = data.to_vec();
    let at = seed % out.len();
    if let Some(byte) = out.get_mut(at) {
        *byte ^= 0x01 | (seed >> 8) as u8;
    }
    Some(out)
}

/// Text pairs from `k=v` pieces separated by `;` (lossy UTF-8; pieces without `=` have an
/// empty value).
pub(crate) fn pairs(data: &[u8]) -> Vec<(String, String)> {
    data.split(|b| *b == b';')
        .filter(|piece| !piece.is_empty())
        .map(|piece| {
            let (key, value) = match piece.iter().position(|b| *b == b'=') {
                Some(at) => (&piece[..at], &piece[at + 1..]),
                None => (piece, &[][..]),
            };
            (
                String::from_utf8_lossy(key).into_owned(),
                String::from_utf8_lossy(value).into_owned(),
            )
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_and_pad() {
        let ([a, b, c], rest) = split_lines::<3>(b"one\r\ntwo\n");
        assert_eq!(
            (a, b, c, rest),
            (&b"one"[..], &b"two"[..], &b""[..], &b""[..])
        );
        let ([a], rest) = split_lines::<1>(b"x\ny\nz");
        assert_eq!((a, rest), (&b"x"[..], &b"y\nz"[..]));
    }

    #[test]
    fn flips_change_exactly_one_byte() {
        let data = b"abcdef";
        for seed in 0..600 {
            let flipped = flip_one(data, seed).unwrap();
            let changed = flipped.iter().zip(data).filter(|(a, b)| a != b).count();
            assert_eq!(changed, 1, "seed {seed}");
        }
        assert_eq!(flip_one(b"", 3), None);
    }

    #[test]
    fn pairs_parse() {
        assert_eq!(
            pairs(b"a=1;;b;c=x=y"),
            vec![
                ("a".into(), "1".into()),
                ("b".into(), String::new()),
                ("c".into(), "x=y".into())
            ]
        );
    }
}
