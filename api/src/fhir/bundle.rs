//! The searchset Bundle answered by Patient and RelatedPerson search and `$match`, with the
//! resources `_include` and `_revinclude` add (`search.mode` `include`).

use serde::Serialize;

use super::organization::FhirOrganization;
use super::patient::{Extension, FhirPatient};
use super::related_person::FhirRelatedPerson;

/// The match-grade extension of `Bundle.entry.search` (certain, probable, possible).
pub const MATCH_GRADE_URL: &str = "http://hl7.org/fhir/StructureDefinition/match-grade";

/// A paging link.
#[derive(Clone, Debug, Serialize)]
pub struct BundleLink {
    /// `self`, `next`, `previous`.
    pub relation: &'static str,
    /// The URL.
    pub url: String,
}

/// Why an entry is in a searchset.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EntrySearch {
    /// The match-grade extension (`$match` only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extension: Vec<Extension>,
    /// `match` or `include`.
    pub mode: &'static str,
    /// The match probability (`$match` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
}

/// The resource of an entry.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum EntryResource {
    /// A patient.
    Patient(Box<FhirPatient>),
    /// A related person.
    RelatedPerson(Box<FhirRelatedPerson>),
    /// An organization (`_include=Patient:organization`).
    Organization(Box<FhirOrganization>),
}

/// One entry.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleEntry {
    /// The resource's absolute URL.
    pub full_url: String,
    /// The resource.
    pub resource: EntryResource,
    /// Search mode and score.
    pub search: EntrySearch,
}

/// A searchset Bundle.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Bundle {
    /// Always `Bundle`.
    pub resource_type: &'static str,
    /// Always `searchset`.
    #[serde(rename = "type")]
    pub type_: &'static str,
    /// How many resources match in total (all pages).
    pub total: u64,
    /// Paging links.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub link: Vec<BundleLink>,
    /// This page's entries.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub entry: Vec<BundleEntry>,
}

impl Bundle {
    /// A searchset with these links and entries.
    pub fn searchset(total: u64, link: Vec<BundleLink>, entry: Vec<BundleEntry>) -> Bundle {
        Bundle {
            resource_type: "Bundle",
            type_: "searchset",
            total,
            link,
            entry,
        }
    }
}
