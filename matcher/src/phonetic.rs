//! Phonetic keys through `rphonetic`: Double Metaphone (primary and alternate), NYSIIS and Soundex.
//!
//! One trait, `PhoneticEncoder`, with one small type per algorithm; `keys` computes the
//! `PhoneticKeys` stored in every `NormalizedName`.

use crate::record::PhoneticKeys;
use rphonetic::{DoubleMetaphone, Encoder, Nysiis, Soundex};

/// A phonetic algorithm: maps a name to a code that sounds-alike names share.
pub trait PhoneticEncoder {
    /// The code of `text` (folded, lower-case letters expected; other characters are ignored).
    fn encode(&self, text: &str) -> String;
}

/// Double Metaphone primary code (maximum length 4).
#[derive(Clone, Copy, Debug, Default)]
pub struct DoubleMetaphonePrimary;

/// Double Metaphone alternate code (equal to the primary when the name has no alternate reading).
#[derive(Clone, Copy, Debug, Default)]
pub struct DoubleMetaphoneAlternate;

/// NYSIIS code (strict: at most 6 characters).
#[derive(Clone, Copy, Debug, Default)]
pub struct NysiisCode;

/// American Soundex code (letter + three digits).
#[derive(Clone, Copy, Debug, Default)]
pub struct SoundexCode;

/// Keeps only ASCII letters: the encoders are defined on the Latin alphabet.
fn letters(text: &str) -> String {
    text.chars().filter(char::is_ascii_alphabetic).collect()
}

impl PhoneticEncoder for DoubleMetaphonePrimary {
    /// ```
    /// use matcher::phonetic::{DoubleMetaphonePrimary, PhoneticEncoder};
    /// assert_eq!(DoubleMetaphonePrimary.encode("smith"), "SM0");
    /// ```
    fn encode(&self, text: &str) -> String {
        let t = letters(text);
        if t.is_empty() {
            String::new()
        } else {
            DoubleMetaphone::default().double_metaphone(&t).primary()
        }
    }
}

impl PhoneticEncoder for DoubleMetaphoneAlternate {
    /// ```
    /// use matcher::phonetic::{DoubleMetaphoneAlternate, PhoneticEncoder};
    /// assert_eq!(DoubleMetaphoneAlternate.encode("smith"), "XMT");
    /// ```
    fn encode(&self, text: &str) -> String {
        let t = letters(text);
        if t.is_empty() {
            String::new()
        } else {
            DoubleMetaphone::default().double_metaphone(&t).alternate()
        }
    }
}

impl PhoneticEncoder for NysiisCode {
    /// ```
    /// use matcher::phonetic::{NysiisCode, PhoneticEncoder};
    /// assert_eq!(NysiisCode.encode("macintosh"), "MCANT");
    /// ```
    fn encode(&self, text: &str) -> String {
        let t = letters(text);
        if t.is_empty() {
            String::new()
        } else {
            Nysiis::new(true).encode(&t)
        }
    }
}

impl PhoneticEncoder for SoundexCode {
    /// ```
    /// use matcher::phonetic::{PhoneticEncoder, SoundexCode};
    /// assert_eq!(SoundexCode.encode("robert"), "R163");
    /// assert_eq!(SoundexCode.encode("rupert"), "R163");
    /// ```
    fn encode(&self, text: &str) -> String {
        let t = letters(text);
        if t.is_empty() {
            String::new()
        } else {
            Soundex::default().encode(&t)
        }
    }
}

/// The phonetic keys of one (folded) name; spaces are ignored, so `van der berg` and `vanderberg`
/// share their keys.
///
/// ```
/// use matcher::phonetic::keys;
/// assert_eq!(keys("catherine").metaphone, keys("kathryn").metaphone);
/// assert_eq!(keys("").metaphone, "");
/// ```
pub fn keys(text: &str) -> PhoneticKeys {
    let t = letters(text);
    if t.is_empty() {
        return PhoneticKeys::default();
    }
    let dm = DoubleMetaphone::default().double_metaphone(&t);
    PhoneticKeys {
        metaphone: dm.primary().into(),
        metaphone_alt: dm.alternate().into(),
        nysiis: Nysiis::new(true).encode(&t).into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_codes() {
        // Values from the rphonetic documentation and the Soundex / NYSIIS literature.
        assert_eq!(DoubleMetaphonePrimary.encode("jumped"), "JMPT");
        assert_eq!(DoubleMetaphoneAlternate.encode("jumped"), "AMPT");
        assert_eq!(SoundexCode.encode("tymczak"), "T522");
        assert_eq!(SoundexCode.encode("pfister"), "P236");
        assert_eq!(NysiisCode.encode("knight"), "NAGT");
        let k = keys("schmidt");
        assert_eq!(k.metaphone, "XMT");
        assert_eq!(k.metaphone_alt, "SMT");
    }
}
