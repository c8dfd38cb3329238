//! Name search modes (exact, wildcard, alias, phonetic), as IHE PDQ queries ask for them,
//! answered from the in-memory candidate index, whose normalized names already carry the
//! matcher's folded text, phonetic keys and nickname groups. Hand-written: the modes are the
//! matcher's own comparisons (its `fold`, Double Metaphone and NYSIIS keys, nickname table), which
//! no database index holds, and a glob over a folded name is a few lines.
//!
//! A search names a family name, a given name or both and one mode. A record is found when one
//! of its family names (and one of its given names) satisfies the mode: `exact` the folded text
//! is equal; `wildcard` the folded text matches the pattern (`*` any run of letters, `?` one);
//! `alias` the given name is the same or in the same nickname group (Bill, Will, William), the
//! family name exact; `phonetic` the same Double Metaphone (primary or alternate) or NYSIIS key.
//! Each hit carries the mode that found it (`exact` when every name is equal as folded, else the
//! mode asked for) and a score in 0..=1: the Jaro-Winkler similarity of the folded names (for a
//! wildcard, of the pattern's letters), averaged over family and given. Only live, active
//! records are indexed, so merged-away records are not found in a mode.

use std::str::FromStr;

use matcher::NormalizedName;
use matcher::compare::jaro_winkler::similarity;
use matcher::normalize::{nickname_equivalent, normalize_name};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::index::IndexData;
use crate::{Error, Result};

/// Most hits a mode search keeps (best scores first) before its other criteria are applied.
pub const MAX_HITS: usize = 1_000;
/// Most wildcards in one pattern.
pub const MAX_WILDCARDS: usize = 4;

/// How a name search compares names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SearchMode {
    /// The same name (case, accents and punctuation ignored).
    Exact,
    /// A pattern with `*` (any run of letters) and `?` (one letter).
    Wildcard,
    /// The same given name or one of its nicknames (the family name exact).
    Alias,
    /// A name that sounds alike (Double Metaphone or NYSIIS).
    Phonetic,
}

impl SearchMode {
    /// The mode's code.
    pub fn as_str(self) -> &'static str {
        match self {
            SearchMode::Exact => "exact",
            SearchMode::Wildcard => "wildcard",
            SearchMode::Alias => "alias",
            SearchMode::Phonetic => "phonetic",
        }
    }
}

impl FromStr for SearchMode {
    type Err = Error;

    fn from_str(s: &str) -> Result<SearchMode> {
        match s.trim() {
            "exact" => Ok(SearchMode::Exact),
            "wildcard" => Ok(SearchMode::Wildcard),
            "alias" => Ok(SearchMode::Alias),
            "phonetic" => Ok(SearchMode::Phonetic),
            _ => Err(Error::validation(
                "mode",
                "is not a search mode (exact, wildcard, alias, phonetic)",
            )),
        }
    }
}

/// The mode that found a search result and how close its name is.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchHit {
    /// `exact` when every name searched for is equal, else the mode asked for.
    pub mode: SearchMode,
    /// Similarity of the names, 0..=1 (1 for equal names).
    pub score: f64,
}

/// One name criterion, prepared once per search.
enum Wanted {
    Name(NormalizedName),
    /// Folded literal pieces between wildcards, with the wildcard before each piece.
    Pattern {
        tokens: Vec<Token>,
        letters: String,
    },
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Text(String),
    Any,
    One,
}

fn prepare(field: &str, raw: &str, mode: SearchMode) -> Result<Wanted> {
    if mode != SearchMode::Wildcard {
        let name = normalize_name(raw);
        if name.compact.is_empty() {
            return Err(Error::validation(field, "has no letters to compare"));
        }
        return Ok(Wanted::Name(name));
    }
    let mut tokens = Vec::new();
    let mut literal = String::new();
    let mut wildcards = 0;
    let flush = |literal: &mut String, tokens: &mut Vec<Token>| {
        let folded = normalize_name(literal).compact.to_string();
        if !folded.is_empty() {
            tokens.push(Token::Text(folded));
        }
        literal.clear();
    };
    for c in raw.trim().chars() {
        match c {
            '*' | '?' => {
                flush(&mut literal, &mut tokens);
                wildcards += 1;
                tokens.push(if c == '*' { Token::Any } else { Token::One });
            }
            c => literal.push(c),
        }
    }
    flush(&mut literal, &mut tokens);
    if wildcards > MAX_WILDCARDS {
        return Err(Error::validation(
            field,
            format!("has more than {MAX_WILDCARDS} wildcards"),
        ));
    }
    let letters: String = tokens
        .iter()
        .filter_map(|t| match t {
            Token::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    if letters.is_empty() {
        return Err(Error::validation(
            field,
            "a pattern needs at least one letter besides its wildcards",
        ));
    }
    Ok(Wanted::Pattern { tokens, letters })
}

/// Whether `text` matches the glob `tokens` (iterative, with one backtrack point per `*`).
fn glob(tokens: &[Token], text: &str) -> bool {
    fn go(tokens: &[Token], text: &[char]) -> bool {
        match tokens.split_first() {
            None => text.is_empty(),
            Some((Token::Text(t), rest)) => {
                let t: Vec<char> = t.chars().collect();
                text.starts_with(&t) && go(rest, &text[t.len()..])
            }
            Some((Token::One, rest)) => !text.is_empty() && go(rest, &text[1..]),
            Some((Token::Any, rest)) => (0..=text.len()).any(|i| go(rest, &text[i..])),
        }
    }
    let chars: Vec<char> = text.chars().collect();
    go(tokens, &chars)
}

fn phonetic_alike(a: &NormalizedName, b: &NormalizedName) -> bool {
    let (pa, pb) = (&a.phonetic, &b.phonetic);
    let some = |s: &str| !s.is_empty();
    (some(&pa.metaphone)
        && (pa.metaphone == pb.metaphone
            || pa.metaphone == pb.metaphone_alt
            || pa.metaphone_alt == pb.metaphone))
        || (some(&pa.nysiis) && pa.nysiis == pb.nysiis)
}

/// The best `(exact, score)` of `names` against one criterion, if any name satisfies it.
fn best(
    wanted: &Wanted,
    names: &[NormalizedName],
    mode: SearchMode,
    given: bool,
) -> Option<(bool, f64)> {
    let mut out: Option<(bool, f64)> = None;
    for name in names {
        let found = match wanted {
            Wanted::Pattern { tokens, letters } => glob(tokens, &name.compact).then(|| {
                (
                    letters.as_str() == name.compact.as_str(),
                    similarity(letters, &name.compact),
                )
            }),
            Wanted::Name(q) => {
                let exact = q.compact == name.compact;
                let ok = exact
                    || match mode {
                        SearchMode::Exact | SearchMode::Wildcard => false,
                        SearchMode::Alias => {
                            given && nickname_equivalent(&q.compact, &name.compact)
                        }
                        SearchMode::Phonetic => phonetic_alike(q, name),
                    };
                ok.then(|| {
                    let score = if exact {
                        1.0
                    } else {
                        similarity(&q.compact, &name.compact)
                    };
                    (exact, score)
                })
            }
        };
        if let Some(f) = found
            && out.is_none_or(|(e, s)| (f.0, f.1) > (e, s))
        {
            out = Some(f);
        }
    }
    out
}

/// The live, active records whose names satisfy `family` and `given` (either may be absent,
/// not both) in `mode`, best score first (then by id), at most [`MAX_HITS`].
pub fn find(
    index: &IndexData,
    family: Option<&str>,
    given: Option<&str>,
    mode: SearchMode,
) -> Result<Vec<(Uuid, SearchHit)>> {
    let family = family.map(|f| prepare("family", f, mode)).transpose()?;
    let given = given.map(|g| prepare("given", g, mode)).transpose()?;
    if family.is_none() && given.is_none() {
        return Err(Error::validation(
            "mode",
            "a search mode needs a family or a given name",
        ));
    }
    let mut hits: Vec<(Uuid, SearchHit)> = Vec::new();
    for (id, entry) in index.entries() {
        let record = &entry.record;
        let mut exact = true;
        let mut scores = Vec::with_capacity(2);
        let mut matched = true;
        for (wanted, names, is_given) in [
            (&family, &record.family, false),
            (&given, &record.given, true),
        ] {
            let Some(wanted) = wanted else { continue };
            match best(wanted, names, mode, is_given) {
                Some((e, s)) => {
                    exact &= e;
                    scores.push(s);
                }
                None => {
                    matched = false;
                    break;
                }
            }
        }
        if !matched {
            continue;
        }
        let score = scores.iter().sum::<f64>() / scores.len() as f64;
        hits.push((
            *id,
            SearchHit {
                mode: if exact { SearchMode::Exact } else { mode },
                score: (score * 10_000.0).round() / 10_000.0,
            },
        ));
    }
    hits.sort_by(|a, b| b.1.score.total_cmp(&a.1.score).then(a.0.cmp(&b.0)));
    hits.truncate(MAX_HITS);
    Ok(hits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(raw: &str) -> Vec<Token> {
        match prepare("family", raw, SearchMode::Wildcard).expect("pattern") {
            Wanted::Pattern { tokens, .. } => tokens,
            Wanted::Name(_) => unreachable!(),
        }
    }

    #[test]
    fn globs_match_folded_names() {
        assert!(glob(&pattern("JO*"), "johnson"));
        assert!(glob(&pattern("jo*"), "jo"));
        assert!(!glob(&pattern("JO*"), "ajohnson"));
        assert!(glob(&pattern("*son"), "johnson"));
        assert!(glob(&pattern("J?hn*"), "johnston"));
        assert!(!glob(&pattern("J?hn"), "jhn"));
        assert!(glob(&pattern("Mü*"), "muller"));
    }

    #[test]
    fn patterns_are_bounded_and_need_a_letter() {
        assert!(prepare("family", "***", SearchMode::Wildcard).is_err());
        assert!(prepare("family", "a*b*c*d*e*f", SearchMode::Wildcard).is_err());
        assert!(prepare("family", "--", SearchMode::Phonetic).is_err());
    }

    #[test]
    fn phonetic_keys_and_nicknames_decide() {
        let a = normalize_name("Smith");
        let b = normalize_name("Smyth");
        assert!(phonetic_alike(&a, &b));
        assert!(!phonetic_alike(&a, &normalize_name("Jones")));
        assert!(nickname_equivalent("bill", "william"));
    }
}
