//! From the text of a Containerfile to its instructions, as BuildKit's
//! parser reads them: parser directives at the top (`# syntax=`, ignored;
//! `# escape=`), comment lines, blank lines, line continuations (the
//! escape character at the end of a line; comment and blank lines inside
//! a continuation are skipped), and heredocs, which are skipped so that
//! their body is not taken for instructions. Every character keeps its
//! line and column.

use crate::model::value::Pos;

/// A character of an instruction and where it stood.
pub(super) type Char = (char, Pos);

/// One instruction: its keyword, upper-cased, and its arguments.
#[derive(Debug)]
pub(super) struct Instruction {
    /// `FROM`, `COPY`, ...
    pub keyword: String,
    /// Where the keyword starts.
    pub pos: Pos,
    /// The arguments, continuation lines joined, leading blanks removed.
    pub args: Vec<Char>,
    /// Where a heredoc (`<<EOF`) starts in the arguments, if one does.
    pub heredoc: Option<Pos>,
}

/// A parsed file: the escape character and the instructions.
#[derive(Debug)]
pub(super) struct Parsed {
    /// `\`, or `` ` `` with `# escape=``.
    pub escape: char,
    /// The instructions in order.
    pub instructions: Vec<Instruction>,
}

/// Splits `text` into instructions. Fails only on a bad `escape` directive.
pub(super) fn parse(text: &str) -> Result<Parsed, (Pos, String)> {
    let lines: Vec<&str> = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).collect();
    let (escape, first) = directives(&lines)?;
    let mut instructions = Vec::new();
    let mut i = first;
    while i < lines.len() {
        let line_no = i;
        let line = lines[i];
        i += 1;
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let mut chars = chars_of(line, line_no);
        while ends_with_escape(&chars, escape) && i < lines.len() {
            trim_continuation(&mut chars, escape);
            let next = lines[i];
            i += 1;
            let t = next.trim_start();
            if t.is_empty() || t.starts_with('#') {
                // Skipped lines keep the continuation going, as in BuildKit.
                chars.push((escape, Pos { line: i as u32, col: 1 }));
                continue;
            }
            chars.extend(chars_of(next, i - 1));
        }
        if ends_with_escape(&chars, escape) {
            trim_continuation(&mut chars, escape);
        }
        let mut instruction = split_keyword(chars);
        let can_heredoc = matches!(instruction.keyword.as_str(), "RUN" | "COPY" | "ADD");
        if can_heredoc && let Some(end) = heredoc_end(&instruction.args) {
            instruction.heredoc = instruction.args.iter().position(|(c, _)| *c == '<').map(|at| instruction.args[at].1);
            while i < lines.len() {
                let body = lines[i];
                i += 1;
                if body.trim_start_matches('\t') == end {
                    break;
                }
            }
        }
        instructions.push(instruction);
    }
    Ok(Parsed { escape, instructions })
}

/// Reads the parser directives at the top; returns the escape character
/// and the index of the first line after them.
fn directives(lines: &[&str]) -> Result<(char, usize), (Pos, String)> {
    let mut escape = '\\';
    for (i, line) in lines.iter().enumerate() {
        let Some(rest) = line.trim_start().strip_prefix('#') else { return Ok((escape, i)) };
        let Some((key, value)) = rest.split_once('=') else { return Ok((escape, i)) };
        let key = key.trim().to_ascii_lowercase();
        if !key.chars().all(|c| c.is_ascii_alphanumeric()) || key.is_empty() {
            return Ok((escape, i));
        }
        match key.as_str() {
            "escape" => match value.trim() {
                "\\" => escape = '\\',
                "`" => escape = '`',
                other => {
                    let col = line.find('=').unwrap_or(0) as u32 + 2;
                    return Err((
                        Pos { line: i as u32 + 1, col },
                        format!("escape directive {other:?}: the escape character must be \\ or `"),
                    ));
                }
            },
            "syntax" | "check" => {}
            _ => return Ok((escape, i)),
        }
    }
    Ok((escape, lines.len()))
}

fn chars_of(line: &str, index: usize) -> Vec<Char> {
    line.chars().enumerate().map(|(col, c)| (c, Pos { line: index as u32 + 1, col: col as u32 + 1 })).collect()
}

/// Whether the line ends with the escape character (blanks after it allowed).
fn ends_with_escape(chars: &[Char], escape: char) -> bool {
    chars.iter().rev().find(|(c, _)| *c != ' ' && *c != '\t').is_some_and(|(c, _)| *c == escape)
}

/// Removes the trailing blanks and the escape character ending the line.
fn trim_continuation(chars: &mut Vec<Char>, escape: char) {
    while chars.last().is_some_and(|(c, _)| *c == ' ' || *c == '\t') {
        chars.pop();
    }
    if chars.last().is_some_and(|(c, _)| *c == escape) {
        chars.pop();
    }
}

/// The first word is the keyword; the rest, leading blanks removed, the
/// arguments.
fn split_keyword(chars: Vec<Char>) -> Instruction {
    let start = chars.iter().position(|(c, _)| !c.is_whitespace()).unwrap_or(0);
    let end = chars[start..].iter().position(|(c, _)| c.is_whitespace()).map_or(chars.len(), |n| start + n);
    let keyword: String = chars[start..end].iter().map(|(c, _)| c.to_ascii_uppercase()).collect();
    let pos = chars.get(start).map_or(Pos { line: 1, col: 1 }, |(_, p)| *p);
    let args_start = chars[end..].iter().position(|(c, _)| !c.is_whitespace()).map_or(chars.len(), |n| end + n);
    let mut args = chars[args_start..].to_vec();
    while args.last().is_some_and(|(c, _)| c.is_whitespace()) {
        args.pop();
    }
    Instruction { keyword, pos, args, heredoc: None }
}

/// The end word of a heredoc (`<<EOF`, `<<-EOF`, `<<"EOF"`) in the
/// arguments of RUN, COPY or ADD, if one starts there.
fn heredoc_end(args: &[Char]) -> Option<String> {
    let text: String = args.iter().map(|(c, _)| *c).collect();
    let at = text.find("<<")?;
    let rest = text[at + 2..].strip_prefix('-').unwrap_or(&text[at + 2..]);
    let rest = rest.trim_start_matches(['"', '\'']);
    let word: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
    (!word.is_empty() && word.chars().next().is_some_and(|c| !c.is_ascii_digit())).then_some(word)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(i: &Instruction) -> String {
        i.args.iter().map(|(c, _)| *c).collect()
    }

    #[test]
    fn comments_blank_lines_and_continuations() {
        let p =
            parse("#syntax=x\n# a comment\n\nfrom scratch\nCOPY a \\\n  # skipped\n\n  b /c/\nLABEL k=v\\").unwrap();
        assert_eq!(p.escape, '\\');
        let kw: Vec<&str> = p.instructions.iter().map(|i| i.keyword.as_str()).collect();
        assert_eq!(kw, ["FROM", "COPY", "LABEL"]);
        assert_eq!(text(&p.instructions[1]), "a   b /c/");
        assert_eq!(p.instructions[1].pos, Pos { line: 5, col: 1 });
        // The `b` on the continued line keeps its own position.
        let b = p.instructions[1].args.iter().find(|(c, _)| *c == 'b').unwrap().1;
        assert_eq!(b, Pos { line: 8, col: 3 });
        assert_eq!(text(&p.instructions[2]), "k=v");
    }

    #[test]
    fn escape_directive_changes_the_continuation_character() {
        let p = parse("# escape=`\nFROM scratch\nCOPY a `\n b /c\n").unwrap();
        assert_eq!(p.escape, '`');
        assert_eq!(text(&p.instructions[1]), "a  b /c");
        assert!(parse("# escape=x\nFROM scratch").is_err());
        // A directive after a comment is only a comment.
        assert_eq!(parse("# hello\n# escape=`\nFROM scratch").unwrap().escape, '\\');
    }

    #[test]
    fn heredoc_bodies_are_not_instructions() {
        let p = parse("FROM scratch\nRUN <<EOF\napt-get x\nEOF\nLABEL a=b\n").unwrap();
        let kw: Vec<&str> = p.instructions.iter().map(|i| i.keyword.as_str()).collect();
        assert_eq!(kw, ["FROM", "RUN", "LABEL"]);
        assert_eq!(p.instructions[1].heredoc, Some(Pos { line: 2, col: 5 }));
    }
}
