//! Highlighting: SQL coloured by sqlparser's tokenizer, backslash commands
//! in one colour.

/// Colour SQL: keywords bold blue, strings green, numbers yellow, comments
/// grey. Backslash commands are shown in cyan. SQL is split by sqlparser's
/// tokenizer (DataFusion's dialect and keyword list, as datafusion-cli
/// does); each token keeps its own text, so stripping the colours gives the
/// line back. A line the tokenizer cannot read yet (an open quote) is shown
/// as typed.
pub fn highlight_sql(line: &str) -> String {
    use datafusion::sql::sqlparser::dialect::GenericDialect;
    use datafusion::sql::sqlparser::keywords::Keyword;
    use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer, Whitespace};

    const KW: &str = "\x1b[1;34m";
    const STR: &str = "\x1b[32m";
    const NUM: &str = "\x1b[33m";
    const COMMENT: &str = "\x1b[90m";
    const CMD: &str = "\x1b[36m";
    const RESET: &str = "\x1b[0m";
    if line.trim_start().starts_with('\\') {
        let end = line.find(char::is_whitespace).unwrap_or(line.len());
        return format!("{CMD}{}{RESET}{}", &line[..end], &line[end..]);
    }
    let Ok(tokens) = Tokenizer::new(&GenericDialect {}, line).tokenize_with_location() else {
        return line.to_string();
    };
    // Byte offsets of each line start, for the tokens' (line, column) spans.
    let starts: Vec<usize> = std::iter::once(0)
        .chain(line.match_indices('\n').map(|(i, _)| i + 1))
        .collect();
    let offset = |l: u64, c: u64| -> usize {
        let from = starts
            .get((l as usize).saturating_sub(1))
            .copied()
            .unwrap_or(line.len());
        line[from..]
            .char_indices()
            .nth((c as usize).saturating_sub(1))
            .map_or(line.len(), |(i, _)| from + i)
    };
    let mut out = String::with_capacity(line.len() + 32);
    let mut at = 0;
    for t in &tokens {
        let (start, end) = (
            offset(t.span.start.line, t.span.start.column),
            offset(t.span.end.line, t.span.end.column),
        );
        if start < at || end < start {
            continue;
        }
        out.push_str(&line[at..start]);
        let text = &line[start..end];
        let colour = match &t.token {
            Token::Word(w) if w.keyword != Keyword::NoKeyword && w.quote_style.is_none() => {
                Some(KW)
            }
            Token::SingleQuotedString(_) => Some(STR),
            Token::Number(..) => Some(NUM),
            Token::Whitespace(
                Whitespace::SingleLineComment { .. } | Whitespace::MultiLineComment(_),
            ) => Some(COMMENT),
            _ => None,
        };
        match colour {
            Some(c) => {
                out.push_str(c);
                out.push_str(text);
                out.push_str(RESET);
            }
            None => out.push_str(text),
        }
        at = end;
    }
    out.push_str(&line[at..]);
    out
}
