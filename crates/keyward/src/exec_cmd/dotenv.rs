//! `--env-file`: `KEY=VALUE` lines, dotenv style. Blank lines and `#` comments are
//! skipped; `export KEY=VALUE` is allowed; a value may be in single quotes (taken
//! literally) or double quotes (`\n`, `\t`, `\"`, `\\` and `\$` escapes); an unquoted
//! value is trimmed and ends at ` #`. Values span one line.

/// The variables of an env file, in file order. Errors name the line, never a value.
pub fn parse(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut vars = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").map_or(line, str::trim_start);
        let Some((name, raw)) = line.split_once('=') else {
            return Err(format!("line {number}: expected NAME=VALUE"));
        };
        let name = name.trim();
        if !is_name(name) {
            return Err(format!("line {number}: '{name}' is not a variable name"));
        }
        let value =
            parse_value(raw.trim()).map_err(|why| format!("line {number}: {name}: {why}"))?;
        vars.push((name.to_owned(), value));
    }
    Ok(vars)
}

fn is_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn parse_value(raw: &str) -> Result<String, &'static str> {
    if let Some(body) = raw.strip_prefix('\'') {
        let end = body.find('\'').ok_or("unterminated single quote")?;
        after_quote(&body[end + 1..])?;
        return Ok(body[..end].to_owned());
    }
    if let Some(body) = raw.strip_prefix('"') {
        let mut value = String::new();
        let mut chars = body.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    after_quote(&body[i + 1..])?;
                    return Ok(value);
                }
                '\\' => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, 't')) => value.push('\t'),
                    Some((_, 'r')) => value.push('\r'),
                    Some((_, other @ ('"' | '\\' | '$'))) => value.push(other),
                    Some((_, other)) => {
                        value.push('\\');
                        value.push(other);
                    }
                    None => return Err("unterminated double quote"),
                },
                c => value.push(c),
            }
        }
        return Err("unterminated double quote");
    }
    let value = match raw.find(" #") {
        Some(comment) => &raw[..comment],
        None => raw,
    };
    Ok(value.trim_end().to_owned())
}

/// Only a comment may follow a closing quote.
fn after_quote(rest: &str) -> Result<(), &'static str> {
    let rest = rest.trim_start();
    if rest.is_empty() || rest.starts_with('#') {
        Ok(())
    } else {
        Err("text after the closing quote")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(text: &str) -> Vec<(String, String)> {
        parse(text).unwrap()
    }

    fn pair(name: &str, value: &str) -> (String, String) {
        (name.to_owned(), value.to_owned())
    }

    #[test]
    fn plain_lines_comments_and_export() {
        let text = "# a comment\n\nA=1\n  B = two words  \nexport C=3\nD=x # note\nE=\nF=a=b\nG=#notcomment\n";
        assert_eq!(
            vars(text),
            vec![
                pair("A", "1"),
                pair("B", "two words"),
                pair("C", "3"),
                pair("D", "x"),
                pair("E", ""),
                pair("F", "a=b"),
                pair("G", "#notcomment"),
            ]
        );
    }

    #[test]
    fn quotes() {
        let text = "A='single $x \\n # kept'\nB=\"line\\nnext \\\"q\\\" \\\\ \\$x\" # c\nC=\"{{resolve:secretsmanager:s}}\"\n";
        assert_eq!(
            vars(text),
            vec![
                pair("A", "single $x \\n # kept"),
                pair("B", "line\nnext \"q\" \\ $x"),
                pair("C", "{{resolve:secretsmanager:s}}"),
            ]
        );
    }

    #[test]
    fn errors_name_the_line() {
        for (text, line) in [
            ("A=1\nnot a pair\n", "line 2"),
            ("1A=x\n", "line 1"),
            ("A='open\n", "line 1"),
            ("A=\"open\n", "line 1"),
            ("A='x' y\n", "line 1"),
            ("=x\n", "line 1"),
        ] {
            let err = parse(text).unwrap_err();
            assert!(err.starts_with(line), "{text:?}: {err}");
        }
    }

    #[test]
    fn crlf_lines() {
        assert_eq!(
            vars("A=1\r\nB='2'\r\n"),
            vec![pair("A", "1"), pair("B", "2")]
        );
    }
}
