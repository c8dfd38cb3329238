//! HL7 v2 code tables and the codes this MPI stores (FHIR's), both ways, in one place:
//! marital status (HL7 table 0002 against FHIR's v3 MaritalStatus, which share letters but not
//! meanings: HL7 `A` is separated where FHIR `A` is annulled), name type (table 0200: HL7 `T`
//! is indigenous/tribal, not temporary) and address type (table 0190: HL7 `BA` is a bad
//! address, not a former one). Reading maps every code of the v2.5 table (and the later `BI`
//! and `V`) to the nearest stored code, or to none when nothing is near; writing maps every
//! stored code to a code of the v2.5 table, or leaves the component empty when the table has
//! none (a temporary or former name, a former or billing address). A language code (PID-15) in
//! a table of language tags is written in BCP 47's canonical case (`EN` is read as `en`).

use entity::enums::{AddressType, AddressUse, MaritalStatus, NameUse};

/// PID-16 (HL7 table 0002) as stored; `None` for `O` (other) and codes outside the table.
pub fn marital_status_in(code: &str) -> Option<MaritalStatus> {
    Some(match code.trim().to_ascii_uppercase().as_str() {
        "A" | "E" => MaritalStatus::LegallySeparated,
        "B" => MaritalStatus::Unmarried,
        "C" => MaritalStatus::CommonLaw,
        "D" => MaritalStatus::Divorced,
        "G" | "P" | "R" => MaritalStatus::DomesticPartner,
        "I" => MaritalStatus::Interlocutory,
        "M" => MaritalStatus::Married,
        "N" => MaritalStatus::Annulled,
        "S" => MaritalStatus::NeverMarried,
        "T" | "U" => MaritalStatus::Unknown,
        "W" => MaritalStatus::Widowed,
        _ => return None,
    })
}

/// A stored marital status as PID-16 (HL7 table 0002).
pub fn marital_status_out(status: MaritalStatus) -> &'static str {
    match status {
        MaritalStatus::Annulled => "N",
        MaritalStatus::Divorced => "D",
        MaritalStatus::Interlocutory => "I",
        MaritalStatus::LegallySeparated => "E",
        MaritalStatus::Married => "M",
        MaritalStatus::CommonLaw => "C",
        // Table 0002 has no polygamous status.
        MaritalStatus::Polygamous => "O",
        MaritalStatus::DomesticPartner => "P",
        MaritalStatus::Unmarried => "B",
        MaritalStatus::NeverMarried => "S",
        MaritalStatus::Widowed => "W",
        MaritalStatus::Unknown => "U",
    }
}

/// XPN.7 (HL7 table 0200) as a stored name use; `None` for a type with no FHIR use (tribal,
/// adopted, licensing, partner's, registered, unspecified).
pub fn name_use_in(code: &str) -> Option<NameUse> {
    Some(match code.trim().to_ascii_uppercase().as_str() {
        "L" => NameUse::Official,
        "D" => NameUse::Usual,
        "M" | "B" => NameUse::Maiden,
        "N" | "A" => NameUse::Nickname,
        "S" => NameUse::Anonymous,
        _ => return None,
    })
}

/// A stored name use as XPN.7 (HL7 table 0200); empty for a temporary or former name, which
/// v2.5's table cannot say.
pub fn name_use_out(name_use: Option<NameUse>) -> &'static str {
    match name_use {
        Some(NameUse::Official) => "L",
        Some(NameUse::Usual) => "D",
        Some(NameUse::Maiden) => "M",
        Some(NameUse::Nickname) => "N",
        Some(NameUse::Anonymous) => "S",
        Some(NameUse::Temp | NameUse::Old) | None => "",
    }
}

/// XAD.7 (HL7 table 0190) as a stored address use and type. A bad address (`BA`) is stored
/// as a former one (FHIR has no "bad"); birth and origin addresses get no use.
pub fn address_in(code: &str) -> (Option<AddressUse>, Option<AddressType>) {
    match code.trim().to_ascii_uppercase().as_str() {
        "H" | "P" | "RH" => (Some(AddressUse::Home), None),
        "B" | "O" => (Some(AddressUse::Work), None),
        "C" | "V" => (Some(AddressUse::Temp), None),
        "BA" => (Some(AddressUse::Old), None),
        "BI" => (Some(AddressUse::Billing), None),
        "M" => (None, Some(AddressType::Postal)),
        _ => (None, None),
    }
}

/// A stored address use and type as XAD.7 (HL7 table 0190); empty for a former or billing
/// address, which v2.5's table cannot say (`BA` means a bad address).
pub fn address_out(
    address_use: Option<AddressUse>,
    address_type: Option<AddressType>,
) -> &'static str {
    match (address_use, address_type) {
        (Some(AddressUse::Home), _) => "H",
        (Some(AddressUse::Work), _) => "B",
        (Some(AddressUse::Temp), _) => "C",
        (Some(AddressUse::Old | AddressUse::Billing), _) => "",
        (None, Some(AddressType::Postal)) => "M",
        (None, _) => "",
    }
}

/// A language tag (`EN`, `en-us`, `zh-hant-tw`) in BCP 47's canonical case (RFC 5646 2.1.1:
/// tags are case-insensitive; the language subtag is written in lower case, a two-letter region
/// in upper case, a four-letter script in title case). A code that is not a tag's shape (letters
/// and digits in subtags of 1 to 8, split by `-`) is kept as given.
pub fn language_tag_case(code: &str) -> String {
    let subtags: Vec<&str> = code.split('-').collect();
    let tag_shaped = subtags
        .iter()
        .all(|s| (1..=8).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric()))
        && subtags[0].bytes().all(|b| b.is_ascii_alphabetic());
    if !tag_shaped {
        return code.to_owned();
    }
    // Subtags after a singleton (`x-...`, an extension) are written in lower case.
    let singleton = subtags
        .iter()
        .position(|s| s.len() == 1)
        .unwrap_or(subtags.len());
    subtags
        .iter()
        .enumerate()
        .map(|(n, s)| match s.len() {
            _ if n == 0 || n > singleton => s.to_ascii_lowercase(),
            2 => s.to_ascii_uppercase(),
            4 if s.bytes().all(|b| b.is_ascii_alphabetic()) => {
                let lower = s.to_ascii_lowercase();
                lower[..1].to_ascii_uppercase() + &lower[1..]
            }
            _ => s.to_ascii_lowercase(),
        })
        .collect::<Vec<_>>()
        .join("-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marital_status_both_ways() {
        let table_0002 = [
            ("A", Some("L")),
            ("B", Some("U")),
            ("C", Some("C")),
            ("D", Some("D")),
            ("E", Some("L")),
            ("G", Some("T")),
            ("I", Some("I")),
            ("M", Some("M")),
            ("N", Some("A")),
            ("O", None),
            ("P", Some("T")),
            ("R", Some("T")),
            ("S", Some("S")),
            ("T", Some("UNK")),
            ("U", Some("UNK")),
            ("W", Some("W")),
            ("X", None),
        ];
        for (hl7, stored) in table_0002 {
            assert_eq!(
                marital_status_in(hl7).map(MaritalStatus::as_str),
                stored,
                "{hl7}"
            );
        }
        let written: Vec<(&str, &str)> = MaritalStatus::ALL
            .iter()
            .map(|m| (m.as_str(), marital_status_out(*m)))
            .collect();
        assert_eq!(
            written,
            [
                ("A", "N"),
                ("D", "D"),
                ("I", "I"),
                ("L", "E"),
                ("M", "M"),
                ("C", "C"),
                ("P", "O"),
                ("T", "P"),
                ("U", "B"),
                ("S", "S"),
                ("W", "W"),
                ("UNK", "U"),
            ]
        );
        // What is written reads back as the same status (but for polygamous, which 0002 lacks).
        for m in MaritalStatus::ALL {
            if *m != MaritalStatus::Polygamous {
                assert_eq!(marital_status_in(marital_status_out(*m)), Some(*m), "{m}");
            }
        }
    }

    #[test]
    fn name_types_both_ways() {
        assert_eq!(name_use_in("T"), None, "T is indigenous/tribal");
        assert_eq!(name_use_in("U"), None);
        assert_eq!(name_use_in("L"), Some(NameUse::Official));
        assert_eq!(name_use_in("B"), Some(NameUse::Maiden));
        assert_eq!(name_use_out(Some(NameUse::Temp)), "");
        assert_eq!(name_use_out(Some(NameUse::Old)), "");
        for u in NameUse::ALL {
            let code = name_use_out(Some(*u));
            assert_ne!(code, "T", "{u}");
            if !code.is_empty() {
                assert_eq!(name_use_in(code), Some(*u), "{u}");
            }
        }
    }

    #[test]
    fn language_tags_in_canonical_case() {
        assert_eq!(language_tag_case("EN"), "en");
        assert_eq!(language_tag_case("en-us"), "en-US");
        assert_eq!(language_tag_case("ZH-HANT-TW"), "zh-Hant-TW");
        assert_eq!(language_tag_case("fr"), "fr");
        assert_eq!(language_tag_case("ENG"), "eng");
        assert_eq!(language_tag_case("es-419"), "es-419");
        assert_eq!(language_tag_case("EN-x-AB"), "en-x-ab");
        assert_eq!(language_tag_case("E N"), "E N");
        assert_eq!(language_tag_case("123"), "123");
    }

    #[test]
    fn address_types_both_ways() {
        assert_eq!(address_in("BA"), (Some(AddressUse::Old), None));
        assert_eq!(address_in("BDL"), (None, None));
        assert_eq!(address_in("M"), (None, Some(AddressType::Postal)));
        assert_eq!(
            address_out(Some(AddressUse::Old), None),
            "",
            "BA is a bad address"
        );
        assert_eq!(address_out(None, Some(AddressType::Postal)), "M");
        for u in AddressUse::ALL {
            let code = address_out(Some(*u), None);
            assert_ne!(code, "BA", "{u}");
            if !code.is_empty() {
                assert_eq!(address_in(code), (Some(*u), None), "{u}");
            }
        }
    }
}
