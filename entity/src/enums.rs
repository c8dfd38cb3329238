//! The coded values of the model as Rust enums, stored as their FHIR code strings.
//!
//! Each enum's database strings and its serde names are the same code (one macro writes both),
//! and they match the CHECK constraints in the `migration` crate's `vocab` module; a test writes
//! every variant to the database on both engines.

use std::fmt;
use std::str::FromStr;

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A code that is not a value of the enumeration it was parsed as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownCode {
    /// The enumeration, e.g. `Gender`.
    pub kind: &'static str,
    /// The rejected text.
    pub value: String,
}

impl fmt::Display for UnknownCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} is not a valid {} code", self.value, self.kind)
    }
}

impl std::error::Error for UnknownCode {}

macro_rules! code_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $code:tt),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, EnumIter, DeriveActiveEnum,
            Serialize, Deserialize,
        )]
        #[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
        pub enum $name {
            $(
                $(#[$vmeta])*
                #[sea_orm(string_value = $code)]
                #[serde(rename = $code)]
                $variant,
            )+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The code as stored and serialised.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $code,)+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownCode;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($code => Ok($name::$variant),)+
                    _ => Err(UnknownCode { kind: stringify!($name), value: s.to_owned() }),
                }
            }
        }
    };
}

code_enum! {
    /// How much of a birth date is known (`patient.birth_date_precision`); a partial date is
    /// stored as the first day of its period.
    #[derive(Default)]
    DatePrecision {
        /// The year only (`1984`).
        Year = "year",
        /// Year and month (`1984-01`).
        Month = "month",
        /// A full date.
        #[default]
        Day = "day",
    }
}

code_enum! {
    /// `Patient.gender` (FHIR administrative-gender).
    Gender {
        Male = "male",
        Female = "female",
        Other = "other",
        Unknown = "unknown",
    }
}

code_enum! {
    /// `Patient.maritalStatus` (FHIR marital-status).
    MaritalStatus {
        /// Annulled.
        Annulled = "A",
        /// Divorced.
        Divorced = "D",
        /// Interlocutory.
        Interlocutory = "I",
        /// Legally separated.
        LegallySeparated = "L",
        /// Married.
        Married = "M",
        /// Common law.
        CommonLaw = "C",
        /// Polygamous.
        Polygamous = "P",
        /// Domestic partner.
        DomesticPartner = "T",
        /// Unmarried.
        Unmarried = "U",
        /// Never married.
        NeverMarried = "S",
        /// Widowed.
        Widowed = "W",
        /// Unknown.
        Unknown = "UNK",
    }
}

code_enum! {
    /// `HumanName.use` (FHIR name-use).
    NameUse {
        Usual = "usual",
        Official = "official",
        Temp = "temp",
        Nickname = "nickname",
        Anonymous = "anonymous",
        Old = "old",
        Maiden = "maiden",
    }
}

code_enum! {
    /// `Identifier.use` (FHIR identifier-use).
    IdentifierUse {
        Usual = "usual",
        Official = "official",
        Temp = "temp",
        Secondary = "secondary",
        Old = "old",
    }
}

code_enum! {
    /// `Identifier.type`: FHIR identifier-type plus common HL7 v2 table 0203 codes.
    IdentifierType {
        /// Medical record number.
        Mr = "MR",
        /// Social security number.
        Ss = "SS",
        /// Driver's license number.
        Dl = "DL",
        /// Passport number.
        Ppn = "PPN",
        /// Breed registry number.
        Brn = "BRN",
        /// Microchip number.
        Mcn = "MCN",
        /// Employer number.
        En = "EN",
        /// Tax id number.
        Tax = "TAX",
        /// National insurance payor identifier (payor).
        Niip = "NIIP",
        /// Provider number.
        Prn = "PRN",
        /// Medical license number.
        Md = "MD",
        /// Donor registration number.
        Dr = "DR",
        /// Accession id.
        Acsn = "ACSN",
        /// Universal device identifier.
        Udi = "UDI",
        /// Serial number.
        Sno = "SNO",
        /// Social beneficiary identifier.
        Sb = "SB",
        /// Placer identifier.
        Plac = "PLAC",
        /// Filler identifier.
        Fill = "FILL",
        /// Jurisdictional health number.
        Jhn = "JHN",
        /// National unique individual identifier.
        Ni = "NI",
        /// National provider identifier.
        Npi = "NPI",
        /// Patient internal identifier.
        Pi = "PI",
        /// Patient external identifier.
        Pt = "PT",
        /// Account number.
        An = "AN",
        /// Patient Medicaid number.
        Ma = "MA",
        /// Patient Medicare number.
        Mc = "MC",
        /// Health card number.
        Hc = "HC",
        /// Unspecified identifier.
        U = "U",
    }
}

code_enum! {
    /// `Address.use` (FHIR address-use).
    AddressUse {
        Home = "home",
        Work = "work",
        Temp = "temp",
        Old = "old",
        Billing = "billing",
    }
}

code_enum! {
    /// `Address.type` (FHIR address-type).
    AddressType {
        Postal = "postal",
        Physical = "physical",
        Both = "both",
    }
}

code_enum! {
    /// `ContactPoint.system` (FHIR contact-point-system).
    TelecomSystem {
        Phone = "phone",
        Fax = "fax",
        Email = "email",
        Pager = "pager",
        Url = "url",
        Sms = "sms",
        Other = "other",
    }
}

code_enum! {
    /// `ContactPoint.use` (FHIR contact-point-use).
    TelecomUse {
        Home = "home",
        Work = "work",
        Temp = "temp",
        Old = "old",
        Mobile = "mobile",
    }
}

code_enum! {
    /// `Organization.type` (FHIR organization-type).
    OrganizationType {
        /// Healthcare provider.
        Prov = "prov",
        /// Hospital department.
        Dept = "dept",
        /// Organizational team.
        Team = "team",
        /// Government.
        Govt = "govt",
        /// Insurance company.
        Ins = "ins",
        /// Payer.
        Pay = "pay",
        /// Educational institute.
        Edu = "edu",
        /// Religious institution.
        Reli = "reli",
        /// Clinical research sponsor.
        Crs = "crs",
        /// Community group.
        Cg = "cg",
        /// Non-healthcare business or corporation.
        Bus = "bus",
        /// Other.
        Other = "other",
    }
}

code_enum! {
    /// `Patient.link.type` (FHIR link-type).
    LinkType {
        /// This record was merged away; the other record replaced it.
        ReplacedBy = "replaced-by",
        /// This record replaced the other (merged-away) record.
        Replaces = "replaces",
        /// The other record is the one to use for this person (this one is incomplete).
        Refer = "refer",
        /// The other record is about the same person; both stay in use.
        SeeAlso = "seealso",
    }
}

code_enum! {
    /// Who made a link.
    LinkOrigin {
        /// A data steward or another user.
        Person = "person",
        /// The matcher, automatically.
        Matcher = "matcher",
    }
}

code_enum! {
    /// The state of a data steward's review task.
    ReviewStatus {
        /// Waiting for a decision.
        Open = "open",
        /// The pair was merged.
        Merged = "merged",
        /// The pair was linked without merging.
        Linked = "linked",
        /// The pair is not the same person; never propose it again.
        NotDuplicate = "not_duplicate",
    }
}

code_enum! {
    /// What an API key may do.
    Role {
        /// Register, read, update, search, match.
        Registrar = "registrar",
        /// Also merge, undo, link and review.
        Steward = "steward",
        /// Audit trail only.
        Auditor = "auditor",
        /// Everything.
        Admin = "admin",
    }
}

code_enum! {
    /// The kind of write a `change_log` row records.
    Operation {
        Insert = "INSERT",
        Update = "UPDATE",
        Delete = "DELETE",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_through_text_and_serde() {
        for v in LinkType::ALL {
            assert_eq!(v.as_str().parse::<LinkType>(), Ok(*v));
            let json = serde_json::to_string(v).unwrap();
            assert_eq!(json, format!("\"{}\"", v.as_str()));
            assert_eq!(v.to_value(), v.as_str());
        }
        assert_eq!(LinkType::ReplacedBy.as_str(), "replaced-by");
        assert_eq!(
            serde_json::from_str::<ReviewStatus>("\"not_duplicate\"").unwrap(),
            ReviewStatus::NotDuplicate
        );
        let err = "mail".parse::<Gender>().unwrap_err();
        assert_eq!(err.kind, "Gender");
        assert!("MALE".parse::<Gender>().is_err());
    }
}
