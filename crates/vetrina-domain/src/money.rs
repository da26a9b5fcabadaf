//! Money: integer minor units (cents) with an ISO 4217 currency. Never floating point.

use serde::{Deserialize, Serialize};

use crate::Invalid;

/// The largest price we accept, in minor units: ten million in major units with two decimals.
/// Bounds keep sums of a cart far from `i64` overflow.
pub const MAX_PRICE_MINOR: i64 = 1_000_000_000;

/// An ISO 4217 currency code, upper case (`EUR`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, example = "EUR")]
pub struct Currency(String);

impl Currency {
    pub fn parse(code: &str) -> Result<Currency, Invalid> {
        let code = code.trim().to_ascii_uppercase();
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(Invalid::new("currency", format!("{code:?} is not an ISO 4217 code such as \"EUR\"")));
        }
        Ok(Currency(code))
    }

    pub fn code(&self) -> &str {
        &self.0
    }

    /// How many decimals the currency's minor unit has (ISO 4217). Most have two.
    pub fn exponent(&self) -> u32 {
        match self.0.as_str() {
            "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX" | "UYI" | "VND" | "VUV" | "XAF"
            | "XOF" | "XPF" => 0,
            "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
            _ => 2,
        }
    }

    /// Parses a decimal price as exports write it (`"45.00"`, `"45"`, `"1234.5"`) into minor units.
    pub fn parse_amount(&self, field: &str, text: &str) -> Result<i64, Invalid> {
        let text = text.trim();
        let bad = || Invalid::new(field, format!("{text:?} is not a price: write it like \"45.00\""));
        let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
        if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let exp = self.exponent() as usize;
        let frac_trimmed = frac.trim_end_matches('0');
        if frac_trimmed.len() > exp {
            return Err(Invalid::new(field, format!("{text:?} has more decimals than {} allows ({exp})", self.0)));
        }
        let whole: i64 = whole.parse().map_err(|_| bad())?;
        let mut frac_minor: i64 = 0;
        for i in 0..exp {
            let digit = frac_trimmed.as_bytes().get(i).map_or(0, |b| i64::from(b - b'0'));
            frac_minor = frac_minor * 10 + digit;
        }
        let minor = whole.checked_mul(10_i64.pow(exp as u32)).and_then(|w| w.checked_add(frac_minor)).ok_or_else(bad)?;
        check_amount(field, minor)
    }

    /// Formats minor units as a plain decimal (`4500` -> `"45.00"`), the form exports use.
    pub fn format_amount(&self, minor: i64) -> String {
        let exp = self.exponent();
        if exp == 0 {
            return minor.to_string();
        }
        let unit = 10_i64.pow(exp);
        let sign = if minor < 0 { "-" } else { "" };
        let abs = minor.unsigned_abs();
        format!("{sign}{}.{:0width$}", abs / unit as u64, abs % unit as u64, width = exp as usize)
    }
}

impl TryFrom<String> for Currency {
    type Error = Invalid;
    fn try_from(s: String) -> Result<Self, Invalid> {
        Currency::parse(&s)
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.0
    }
}

/// Checks an amount in minor units is within 0..=[`MAX_PRICE_MINOR`].
pub fn check_amount(field: &str, minor: i64) -> Result<i64, Invalid> {
    if !(0..=MAX_PRICE_MINOR).contains(&minor) {
        return Err(Invalid::new(field, format!("{minor} is out of range: a price is between 0 and {MAX_PRICE_MINOR} minor units")));
    }
    Ok(minor)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(code: &str, text: &str, expected: Option<i64>) {
        let c = Currency::parse(code).unwrap();
        assert_eq!(c.parse_amount("price", text).ok(), expected, "{code} {text}");
    }

    #[test]
    fn parses_amounts() {
        check("EUR", "45.00", Some(4500));
        check("EUR", "45", Some(4500));
        check("EUR", "45.5", Some(4550));
        check("EUR", "0.0", Some(0));
        check("EUR", "45.001", None);
        check("EUR", "45.010", Some(4501));
        check("EUR", "-1", None);
        check("EUR", "1e3", None);
        check("EUR", "", None);
        check("EUR", "99999999999999999999", None);
        check("JPY", "1200", Some(1200));
        check("JPY", "1200.5", None);
        check("KWD", "1.234", Some(1234));
    }

    #[test]
    fn formats_amounts() {
        let eur = Currency::parse("eur").unwrap();
        assert_eq!(eur.code(), "EUR");
        assert_eq!(eur.format_amount(4500), "45.00");
        assert_eq!(eur.format_amount(5), "0.05");
        assert_eq!(Currency::parse("JPY").unwrap().format_amount(1200), "1200");
        assert!(Currency::parse("EURO").is_err());
    }
}
