//! Small text rules shared by the other modules: trimming, length limits, slugs, hex.

use crate::Invalid;

/// `bytes` in lowercase hex, two digits each (one allocation: hashes are written on hot paths).
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

/// The characters a spreadsheet reads a cell starting with as a formula (OWASP "CSV Injection").
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// A CSV cell a spreadsheet will not run as a formula: such a start is quoted with `'`, as
/// spreadsheets themselves do. [`from_spreadsheet_cell`] takes it off again.
pub fn spreadsheet_cell(text: &str) -> std::borrow::Cow<'_, str> {
    // A plain number ("-3", "+39") is no formula; a text that already starts with a quote before
    // such a character gets a second one, so that reading it back keeps the first.
    let formula = text.starts_with(FORMULA_STARTS) && text.parse::<f64>().is_err();
    if formula || quoted_formula(text) { format!("'{text}").into() } else { text.into() }
}

/// Whether `text` is quotes before a formula's start (`'=x`, `''-1`).
fn quoted_formula(text: &str) -> bool {
    text.starts_with('\'') && text.trim_start_matches('\'').starts_with(FORMULA_STARTS)
}

/// A cell as [`spreadsheet_cell`] wrote it, back to its text.
pub fn from_spreadsheet_cell(cell: &str) -> &str {
    if quoted_formula(cell) { &cell[1..] } else { cell }
}

/// Trims `value` and checks it is between 1 and `max` characters.
pub fn required(field: &str, value: &str, max: usize) -> Result<String, Invalid> {
    let value = value.trim();
    if value.is_empty() {
        return Err(Invalid::new(field, "must not be empty"));
    }
    limit(field, value, max)
}

/// A name shown beside what its owner writes (a person, a guest, a shop): [`required`], on one
/// line (no line breaks or tabs).
pub fn name(field: &str, value: &str, max: usize) -> Result<String, Invalid> {
    let value = required(field, value, max)?;
    if value.chars().any(char::is_control) {
        return Err(Invalid::new(field, "must be one line, without line breaks or tabs"));
    }
    Ok(value)
}

/// Trims `value` and checks it is at most `max` characters (empty is allowed).
pub fn limit(field: &str, value: &str, max: usize) -> Result<String, Invalid> {
    let value = value.trim();
    let n_chars = value.chars().count();
    if n_chars > max {
        return Err(Invalid::new(field, format!("is {n_chars} characters long; the limit is {max}")));
    }
    if value.chars().any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t') {
        return Err(Invalid::new(field, "contains control characters"));
    }
    Ok(value.to_string())
}

/// A slug as used in public URLs: 3 to 64 characters of `a-z`, `0-9` and inner `-`.
pub fn slug(field: &str, value: &str) -> Result<String, Invalid> {
    let value = value.trim();
    let ok_chars = value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !(3..=64).contains(&value.len()) || !ok_chars || value.starts_with('-') || value.ends_with('-') {
        return Err(Invalid::new(
            field,
            format!("{value:?} is not a valid slug: use 3 to 64 lowercase letters, digits and inner hyphens, like \"spring-collection\""),
        ));
    }
    Ok(value.to_string())
}

/// Makes a slug out of a title: lowercase ASCII, accents folded for the common Latin letters,
/// everything else turned into single hyphens. Always returns a valid slug (padded if short).
pub fn slugify(title: &str) -> String {
    let mut out = String::new();
    for c in title.chars().flat_map(char::to_lowercase) {
        let folded = match c {
            'à' | 'á' | 'â' | 'ä' | 'ã' | 'å' => 'a',
            'è' | 'é' | 'ê' | 'ë' => 'e',
            'ì' | 'í' | 'î' | 'ï' => 'i',
            'ò' | 'ó' | 'ô' | 'ö' | 'õ' => 'o',
            'ù' | 'ú' | 'û' | 'ü' => 'u',
            'ç' => 'c',
            'ñ' => 'n',
            c => c,
        };
        if folded.is_ascii_alphanumeric() {
            out.push(folded);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let mut out: String = out.trim_matches('-').chars().take(64).collect();
    out = out.trim_end_matches('-').to_string();
    while out.len() < 3 {
        out.push_str(if out.is_empty() { "show" } else { "-x" });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_one_line() {
        assert_eq!(name("name", "  Anna Rossi ", 40).unwrap(), "Anna Rossi");
        let err = name("name", "Anna\nHOST", 40).unwrap_err();
        assert!(err.to_string().contains("one line"), "{err}");
        assert!(name("name", "a\tb", 40).is_err());
        assert!(name("name", "   ", 40).is_err());
        assert!(limit("bio", "two\nlines", 40).is_ok(), "longer texts may have lines");
    }

    #[test]
    fn slugs() {
        assert_eq!(slugify("Saldi d'Inverno: Cappotti & Più!"), "saldi-d-inverno-cappotti-piu");
        assert_eq!(slugify("!!"), "show");
        assert!(slug("slug", &slugify("é")).is_ok());
        assert!(slug("slug", "Bad Slug").is_err());
        assert!(slug("slug", "-bad").is_err());
        assert!(slug("slug", "ok-slug-1").is_ok());
    }

    #[test]
    fn hex_digits() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert_eq!(hex(&[]), "");
    }

    #[test]
    fn limits() {
        assert_eq!(required("title", "  a  ", 5).unwrap(), "a");
        assert!(required("title", "   ", 5).is_err());
        assert!(limit("title", "abcdef", 5).is_err());
        assert!(limit("title", "a\u{0}b", 5).is_err());
    }
}
