//! CSV as the API reads and writes it: RFC 4180, CRLF, UTF-8 (a leading BOM is accepted).
//!
//! Spreadsheets run cells that start with `= + - @`, a tab or a CR as formulas, so a
//! knowledge base or a transcript could carry a formula into the operator's spreadsheet
//! (OWASP "CSV injection"). Such cells are written with a leading `'`, which spreadsheets
//! show as text; the import removes exactly that quote again, so export → import gives back
//! the same text.

const FORMULA_LEADS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

fn needs_guard(text: &str) -> bool {
    let mut chars = text.chars();
    match chars.next() {
        Some(c) if FORMULA_LEADS.contains(&c) => true,
        // A cell that already looks guarded is guarded once more, so the import's single
        // unquoting gives it back unchanged.
        Some('\'') => chars
            .next()
            .is_some_and(|c| c == '\'' || FORMULA_LEADS.contains(&c)),
        _ => false,
    }
}

/// The cell as written to an exported file.
pub fn guard(text: &str) -> std::borrow::Cow<'_, str> {
    if needs_guard(text) {
        format!("'{text}").into()
    } else {
        text.into()
    }
}

/// The cell as read from an imported file: undoes [`guard`].
pub fn unguard(text: &str) -> &str {
    match text.strip_prefix('\'') {
        Some(rest) if needs_guard(rest) => rest,
        _ => text,
    }
}

pub fn writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new())
}

/// Writes one record with every cell guarded.
pub fn write_guarded<'a>(
    writer: &mut csv::Writer<Vec<u8>>,
    cells: impl IntoIterator<Item = &'a str>,
) -> csv::Result<()> {
    writer.write_record(cells.into_iter().map(|c| guard(c).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_neutralised_and_come_back() {
        for text in [
            "=HYPERLINK(\"http://x\")",
            "+1",
            "-2",
            "@SUM(A1)",
            "\tx",
            "\rx",
            "'=1",
            "''x",
            "'",
            "'Tis the season",
            "plain",
            "",
        ] {
            let written = guard(text);
            assert!(
                !written.starts_with(FORMULA_LEADS),
                "{text:?} written as {written:?}"
            );
            assert_eq!(unguard(&written), text, "round trip of {text:?}");
        }
        assert_eq!(guard("=1"), "'=1");
        assert_eq!(guard("'Tis"), "'Tis");
        assert_eq!(unguard("'Tis"), "'Tis");
    }
}
