//! Address normalization: house number split from the street, street-type abbreviations expanded.

use super::{fold, normalize_code};
use crate::record::{Address, CompactString, NormalizedAddress};

/// Abbreviation → full street-type or direction word.
const ABBREVIATIONS: &[(&str, &str)] = &[
    ("st", "street"),
    ("str", "street"),
    ("rd", "road"),
    ("ave", "avenue"),
    ("av", "avenue"),
    ("cres", "crescent"),
    ("cr", "crescent"),
    ("crs", "crescent"),
    ("dr", "drive"),
    ("drv", "drive"),
    ("pl", "place"),
    ("ct", "court"),
    ("crt", "court"),
    ("cct", "circuit"),
    ("cir", "circle"),
    ("ln", "lane"),
    ("hwy", "highway"),
    ("pde", "parade"),
    ("tce", "terrace"),
    ("ter", "terrace"),
    ("blvd", "boulevard"),
    ("bvd", "boulevard"),
    ("cl", "close"),
    ("gr", "grove"),
    ("gve", "grove"),
    ("sq", "square"),
    ("esp", "esplanade"),
    ("pkwy", "parkway"),
    ("cv", "cove"),
    ("wy", "way"),
    ("apt", "apartment"),
    ("ste", "suite"),
    ("fl", "floor"),
    ("n", "north"),
    ("s", "south"),
    ("e", "east"),
    ("w", "west"),
    ("ne", "northeast"),
    ("nw", "northwest"),
    ("se", "southeast"),
    ("sw", "southwest"),
    ("mt", "mount"),
    ("ft", "fort"),
];

/// Expands street abbreviations in folded text. A leading `st` followed by more words is `saint`
/// (`st kilda road`), any other `st` is `street`.
///
/// ```
/// use matcher::normalize::expand_street;
/// assert_eq!(expand_street("miller st"), "miller street");
/// assert_eq!(expand_street("st kilda rd"), "saint kilda road");
/// assert_eq!(expand_street("kent cres"), "kent crescent");
/// ```
pub fn expand_street(folded: &str) -> String {
    let tokens: Vec<&str> = folded.split(' ').filter(|t| !t.is_empty()).collect();
    let mut out = String::with_capacity(folded.len() + 8);
    for (i, t) in tokens.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let word = if *t == "st" && i == 0 && tokens.len() > 1 {
            "saint"
        } else {
            ABBREVIATIONS
                .iter()
                .find(|(a, _)| a == t)
                .map_or(*t, |(_, full)| full)
        };
        out.push_str(word);
    }
    out
}

fn is_house_number(token: &str) -> bool {
    token.as_bytes().first().is_some_and(u8::is_ascii_digit)
}

/// Normalizes one address.
///
/// ```
/// use matcher::{Address, normalize::normalize_address};
/// let a = normalize_address(&Address {
///     lines: vec!["12A Miller St.".into(), "Rosedale Park".into()],
///     city: Some("St Kilda".into()),
///     postal_code: Some("3182 ".into()),
///     ..Default::default()
/// });
/// assert_eq!(a.house_number, "12a");
/// assert_eq!(a.street, "miller street");
/// assert_eq!(a.extra, "rosedale park");
/// assert_eq!(a.city, "st kilda");
/// assert_eq!(a.postal_code, "3182");
/// // A US ZIP+4 is its ZIP code: records of one person differ in whether the +4 was written.
/// let zip = |code: &str| {
///     normalize_address(&Address { postal_code: Some(code.into()), ..Default::default() })
///         .postal_code
/// };
/// assert_eq!(zip("44046-1234"), "44046");
/// assert_eq!(zip("440461234"), "44046");
/// assert_eq!(zip("SW1A 1AA"), "SW1A1AA");
/// assert_eq!(zip("01310-100"), "01310100"); // a Brazilian CEP keeps its eight digits
/// ```
pub fn normalize_address(address: &Address) -> NormalizedAddress {
    let mut lines = address
        .lines
        .iter()
        .map(|l| fold(l))
        .filter(|l| !l.is_empty());
    let mut house_number = String::new();
    let mut street = String::new();
    if let Some(first) = lines.next() {
        let mut tokens = first.split(' ').peekable();
        let mut numbers: Vec<&str> = Vec::new();
        while let Some(t) = tokens.peek() {
            if is_house_number(t) {
                numbers.push(t);
                tokens.next();
            } else {
                break;
            }
        }
        house_number = numbers.join(" ");
        let rest: Vec<&str> = tokens.collect();
        street = expand_street(&rest.join(" "));
    }
    let extra: Vec<String> = lines.map(|l| expand_street(&l)).collect();
    NormalizedAddress {
        house_number: house_number.into(),
        street: street.into(),
        extra: extra.join(" ").into(),
        city: folded(address.city.as_deref()),
        state: folded(address.state.as_deref()),
        postal_code: address
            .postal_code
            .as_deref()
            .map(|p| zip5(normalize_code(p)).into())
            .unwrap_or_default(),
        country: folded(address.country.as_deref()),
    }
}

/// A US ZIP+4 (nine digits once the dash is gone) reduced to its five-digit ZIP code; any other
/// code as it is. No other country's postal codes have nine digits.
fn zip5(mut code: String) -> String {
    if code.len() == 9 && code.bytes().all(|b| b.is_ascii_digit()) {
        code.truncate(5);
    }
    code
}

fn folded(text: Option<&str>) -> CompactString {
    text.map(|t| fold(t).into()).unwrap_or_default()
}
