//! Splitting a command line into words the way a POSIX shell does.
//!
//! Users may give a guest's arguments as one string (`cmdline`); this turns
//! it into the argument list the image carries. Only quoting is honoured:
//! nothing is expanded (`$HOME`, `*` and `~` stay as written), and operators
//! and comments are not recognised (`;`, `|`, `&`, `<`, `>`, `#` are ordinary
//! characters), since the string is never run by a shell.

/// Splits `s` into words.
///
/// Spaces, tabs and newlines separate words. Inside single quotes every
/// character is literal. Inside double quotes a backslash escapes only `$`,
/// `` ` ``, `"`, `\` and newline, and is kept literally before anything else.
/// Outside quotes a backslash makes the next character literal. A backslash
/// before a newline removes both, in or out of double quotes. Quoted and
/// unquoted parts next to each other form one word, and `''` or `""` alone is
/// an empty word.
///
/// Fails on an unterminated quote or a trailing backslash, naming the
/// character offset (counting characters from 0) where it starts.
pub fn split(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    // A word can be empty (`''`), so whether one is open is tracked apart.
    let mut in_word = false;
    let mut chars = s.chars().enumerate();
    while let Some((at, c)) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some((_, '\'')) => break,
                        Some((_, c)) => word.push(c),
                        None => {
                            return Err(format!("unterminated single quote opened at character offset {at}"));
                        }
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some((_, '"')) => break,
                        Some((escape, '\\')) => match chars.next() {
                            Some((_, '\n')) => {}
                            Some((_, c @ ('$' | '`' | '"' | '\\'))) => word.push(c),
                            Some((_, c)) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => {
                                return Err(format!(
                                    "unterminated double quote opened at character offset {at} \
                                     (the backslash at offset {escape} escapes nothing)"
                                ));
                            }
                        },
                        Some((_, c)) => word.push(c),
                        None => {
                            return Err(format!("unterminated double quote opened at character offset {at}"));
                        }
                    }
                }
            }
            '\\' => match chars.next() {
                // A line continuation: it neither starts nor ends a word.
                Some((_, '\n')) => {}
                Some((_, c)) => {
                    in_word = true;
                    word.push(c);
                }
                None => {
                    return Err(format!(
                        "trailing backslash at character offset {at} escapes nothing \
                         (write \\\\ for a literal backslash)"
                    ));
                }
            },
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// Splits a command line that may hold an unbalanced quote, as the old
/// packagers' examples do (`-g 'daemon off;`): such a quote is read as
/// closed at the end of the line, which is what its author meant. Returns
/// the words and whether a quote had to be closed; `None` when even that
/// does not split (a trailing backslash).
pub fn split_lenient(s: &str) -> Option<(Vec<String>, bool)> {
    let quote = match split(s) {
        Ok(words) => return Some((words, false)),
        Err(e) if e.starts_with("unterminated single") => '\'',
        Err(e) if e.starts_with("unterminated double") => '"',
        Err(_) => return None,
    };
    split(&format!("{s}{quote}")).ok().map(|words| (words, true))
}

/// How [`split_cmdline`] split a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    /// As a shell would.
    Words,
    /// With an unbalanced quote closed at the end ([`split_lenient`]).
    QuoteClosed,
    /// At spaces, as bunny does, when even that fails.
    AtSpaces,
}

/// Splits the cmdline of an old packager's file into Cmd words.
pub fn split_cmdline(s: &str) -> (Vec<String>, Split) {
    match split_lenient(s) {
        Some((words, false)) => (words, Split::Words),
        Some((words, true)) => (words, Split::QuoteClosed),
        None => (s.split(' ').filter(|w| !w.is_empty()).map(str::to_string).collect(), Split::AtSpaces),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_split_closes_an_unbalanced_quote() {
        assert_eq!(split_lenient("a 'b c"), Some((vec!["a".to_string(), "b c".to_string()], true)));
        assert_eq!(split_lenient("a \"b c"), Some((vec!["a".to_string(), "b c".to_string()], true)));
        assert_eq!(split_lenient("a 'b' c"), Some((vec!["a".to_string(), "b".to_string(), "c".to_string()], false)));
        assert_eq!(split_lenient("a \\"), None);
    }

    /// Splits `input`, expecting success.
    fn ok(input: &str) -> Vec<String> {
        match split(input) {
            Ok(words) => words,
            Err(e) => panic!("split({input:?}) failed: {e}"),
        }
    }

    /// Splits `input`, expecting failure.
    fn err(input: &str) -> String {
        match split(input) {
            Ok(words) => panic!("split({input:?}) gave {words:?}, expected an error"),
            Err(e) => e,
        }
    }

    // The expected words below were checked against dash with
    // `sh -c "set -- INPUT; for w do printf '[%s]' \"\$w\"; done"`, except
    // where dash would expand or treat an operator specially.

    #[test]
    fn whitespace_separates() {
        assert_eq!(ok("a b  c"), ["a", "b", "c"]);
        assert_eq!(ok("  leading and trailing  "), ["leading", "and", "trailing"]);
        assert_eq!(ok("tab\tand\nnewline"), ["tab", "and", "newline"]);
        assert_eq!(ok("--port=80 -v"), ["--port=80", "-v"]);
    }

    #[test]
    fn nothing_gives_no_words() {
        assert!(ok("").is_empty());
        assert!(ok("   \t\n ").is_empty());
        assert!(ok("\\\n").is_empty());
        assert!(ok(" \\\n ").is_empty());
    }

    #[test]
    fn single_quotes_are_literal() {
        assert_eq!(ok("'a b'"), ["a b"]);
        assert_eq!(ok(r#"'a\b "c" $d'"#), [r#"a\b "c" $d"#]);
        assert_eq!(ok("'x\\'"), ["x\\"]);
        assert_eq!(ok("'line\nbreak'"), ["line\nbreak"]);
    }

    #[test]
    fn double_quotes_escape_only_some_characters() {
        assert_eq!(ok(r#""a b""#), ["a b"]);
        assert_eq!(ok(r#""\$ \` \" \\""#), [r#"$ ` " \"#]);
        assert_eq!(ok(r#""\a\n\'""#), [r#"\a\n\'"#]);
        assert_eq!(ok("\"one\\\ntwo\""), ["onetwo"]);
        assert_eq!(ok("\"it's\""), ["it's"]);
        assert_eq!(ok("\"line\nbreak\""), ["line\nbreak"]);
    }

    #[test]
    fn backslash_outside_quotes() {
        assert_eq!(ok(r"a\ b"), ["a b"]);
        assert_eq!(ok(r"\'x\'"), ["'x'"]);
        assert_eq!(ok(r#"\"x\""#), [r#""x""#]);
        assert_eq!(ok(r"\\"), [r"\"]);
        assert_eq!(ok(r"\a\b"), ["ab"]);
        assert_eq!(ok("a\\\nb"), ["ab"]);
        assert_eq!(ok("a \\\n b"), ["a", "b"]);
        assert_eq!(ok("\\\t"), ["\t"]);
    }

    #[test]
    fn adjacent_parts_join() {
        assert_eq!(ok(r#"a'b c'"d e"f"#), ["ab cd ef"]);
        assert_eq!(ok(r#"--name="my app""#), ["--name=my app"]);
        assert_eq!(ok(r#"'it'"'"'s'"#), ["it's"]);
        assert_eq!(ok(r"'a'\ 'b'"), ["a b"]);
    }

    #[test]
    fn empty_quotes_are_empty_words() {
        assert_eq!(ok("''"), [""]);
        assert_eq!(ok(r#""""#), [""]);
        assert_eq!(ok(r#"a '' b "" c"#), ["a", "", "b", "", "c"]);
        assert_eq!(ok("x''"), ["x"]);
        assert_eq!(ok("''''"), [""]);
    }

    #[test]
    fn nothing_is_expanded() {
        assert_eq!(ok("$HOME ~ *.txt ${x}"), ["$HOME", "~", "*.txt", "${x}"]);
        assert_eq!(ok("a;b | c # d"), ["a;b", "|", "c", "#", "d"]);
        assert_eq!(ok("\"$HOME\""), ["$HOME"]);
    }

    #[test]
    fn non_ascii_is_kept() {
        assert_eq!(ok("héllo 'wörld' \"ünï\""), ["héllo", "wörld", "ünï"]);
    }

    #[test]
    fn unterminated_single_quote() {
        let e = err("ab 'cd");
        assert!(e.contains("single quote"), "{e}");
        assert!(e.contains("offset 3"), "{e}");
        // Offsets count characters, not bytes.
        let e = err("é'");
        assert!(e.contains("offset 1"), "{e}");
        // A backslash does not end a single-quoted string early.
        let e = err(r"'\''");
        assert!(e.contains("single quote") && e.contains("offset 3"), "{e}");
    }

    #[test]
    fn unterminated_double_quote() {
        let e = err(r#"a "b"#);
        assert!(e.contains("double quote"), "{e}");
        assert!(e.contains("offset 2"), "{e}");
        let e = err(r#""b\""#);
        assert!(e.contains("double quote") && e.contains("offset 0"), "{e}");
        let e = err(r#"x"\"#);
        assert!(e.contains("double quote") && e.contains("offset 1"), "{e}");
        assert!(e.contains("backslash at offset 2"), "{e}");
    }

    #[test]
    fn trailing_backslash() {
        let e = err(r"a b\");
        assert!(e.contains("trailing backslash"), "{e}");
        assert!(e.contains("offset 3"), "{e}");
        let e = err(r"\\\");
        assert!(e.contains("trailing backslash") && e.contains("offset 2"), "{e}");
    }
}
