//! Splitting script text into statements and backslash commands.
//!
//! One splitter serves `cpiq run FILE`, `cpiq sql "…"`, the shell's
//! multi-line input and job scripts: SQL statements end at a `;` outside
//! quotes and comments; a line starting with `\` (between statements) is a
//! one-line command. Each item keeps the line it starts on, so errors can name
//! `file:line`.

/// One item of a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A SQL statement, without its terminating `;`.
    Sql {
        /// The statement text.
        text: String,
        /// The 1-based line of its first non-blank character.
        line: usize,
    },
    /// A backslash command line, e.g. `\cpis`.
    Command {
        /// The line, starting with `\`.
        text: String,
        /// Its 1-based line.
        line: usize,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Code,
    Single,
    Double,
    LineComment,
    BlockComment,
}

/// Split `text` into statements and commands. A final statement without `;`
/// is kept.
pub fn split(text: &str) -> Vec<Item> {
    scan(text).items
}

/// What [`scan`] found: the items (a final statement without `;` last),
/// whether that final statement was unterminated, and the state at the end
/// (inside a quote or a block comment, or not).
struct Scanned {
    items: Vec<Item>,
    unterminated: bool,
    state: State,
}

/// The one scanner of script text: quotes, comments, `;` and backslash
/// lines, for [`split`] and [`is_complete`] alike.
fn scan(text: &str) -> Scanned {
    let mut items = Vec::new();
    let mut state = State::Code;
    let mut current = String::new();
    let mut start_line = 0usize;
    let mut has_code = false;
    for (idx, line) in text.lines().enumerate() {
        let lineno = idx + 1;
        if state == State::Code && !has_code && line.trim_start().starts_with('\\') {
            items.push(Item::Command {
                text: line.trim().to_string(),
                line: lineno,
            });
            current.clear();
            continue;
        }
        let chars: Vec<char> = line.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            let next = chars.get(i + 1).copied();
            match state {
                State::Code => match c {
                    '-' if next == Some('-') => {
                        state = State::LineComment;
                        current.extend(&chars[i..]);
                        break;
                    }
                    '/' if next == Some('*') => {
                        state = State::BlockComment;
                        current.push_str("/*");
                        i += 2;
                        continue;
                    }
                    ';' => {
                        if has_code {
                            items.push(Item::Sql {
                                text: current.trim().to_string(),
                                line: start_line,
                            });
                        }
                        current.clear();
                        has_code = false;
                        i += 1;
                        continue;
                    }
                    _ => {
                        if !c.is_whitespace() && !has_code {
                            has_code = true;
                            start_line = lineno;
                        }
                        if c == '\'' {
                            state = State::Single;
                        } else if c == '"' {
                            state = State::Double;
                        }
                    }
                },
                State::Single if c == '\'' => state = State::Code,
                State::Double if c == '"' => state = State::Code,
                State::BlockComment if c == '*' && next == Some('/') => {
                    state = State::Code;
                    current.push_str("*/");
                    i += 2;
                    continue;
                }
                _ => {}
            }
            current.push(c);
            i += 1;
        }
        if state == State::LineComment {
            state = State::Code;
        }
        current.push('\n');
    }
    if has_code {
        items.push(Item::Sql {
            text: current.trim().to_string(),
            line: start_line,
        });
    }
    Scanned {
        items,
        unterminated: has_code,
        state,
    }
}

/// True when `input` is ready to run in the shell: a backslash command, or
/// SQL whose last statement is terminated by `;` outside quotes and comments.
pub fn is_complete(input: &str) -> bool {
    let t = input.trim();
    if t.is_empty() || t.starts_with('\\') {
        return true;
    }
    let scanned = scan(input);
    scanned.state == State::Code && !scanned.unterminated
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sql(text: &str, line: usize) -> Item {
        Item::Sql {
            text: text.into(),
            line,
        }
    }

    #[test]
    fn statements_keep_their_first_line() {
        let items = split("SELECT 1;\n\n-- a comment\nSELECT\n  2;\nSELECT 3");
        assert_eq!(items[0], sql("SELECT 1", 1));
        assert_eq!(items[1], sql("-- a comment\nSELECT\n  2", 4));
        assert_eq!(items[2], sql("SELECT 3", 6));
    }

    #[test]
    fn semicolons_in_strings_and_comments_do_not_split() {
        let items = split("SELECT 'a;b', \"c;d\" -- e;f\n/* g; */ FROM t;");
        assert_eq!(items.len(), 1);
        assert_eq!(
            items[0],
            sql("SELECT 'a;b', \"c;d\" -- e;f\n/* g; */ FROM t", 1)
        );
    }

    #[test]
    fn backslash_lines_are_commands_between_statements() {
        let items = split("\\set n 5\nSELECT 1;\n  \\cpis\n");
        assert_eq!(
            items,
            vec![
                Item::Command {
                    text: "\\set n 5".into(),
                    line: 1
                },
                sql("SELECT 1", 2),
                Item::Command {
                    text: "\\cpis".into(),
                    line: 3
                },
            ]
        );
    }

    #[test]
    fn completeness_follows_quotes_and_comments() {
        assert!(is_complete("SELECT 1;"));
        assert!(is_complete("SELECT 1; -- done"));
        assert!(is_complete("\\q"));
        assert!(!is_complete("SELECT 1"));
        assert!(!is_complete("SELECT ';"));
        assert!(!is_complete("SELECT 1 /* ; */"));
        assert!(!is_complete("SELECT 1; SELECT 2"));
        assert!(is_complete("SELECT 'it''s';"));
        assert!(is_complete("SELECT 1;\n\\q"));
        assert!(!is_complete("SELECT 1; /* open"));
    }
}
