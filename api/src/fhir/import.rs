//! Reading FHIR R4 Patient resources from files for `mpi import`, streamed in constant memory:
//!
//! * **NDJSON**: one Patient per line (blank lines are skipped); a record's position is its line
//!   number.
//! * **Bundle**: one JSON object `{"resourceType": "Bundle", "entry": [{"resource": {...}}, ...]}`
//!   (any Bundle type; `fullUrl`, `request`, `search` and every other Bundle element are
//!   ignored). It is parsed as a stream: memory holds one entry at a time, whatever the size of
//!   the file. A record's position is its entry index, from 0 (`Bundle.entry[i]`).
//!
//! Each resource is read strictly through the facade's mapping ([`FhirPatient::to_input`]): an
//! element the MPI cannot store is refused, not dropped. A record that cannot be read becomes a
//! reject naming the FHIR element (`Patient.birthDate`, `Patient.name[0].use`) and why, never the
//! element's value (person data is PHI); reading goes on with the next record. The record's
//! `Patient.id` is its id in the source (required). A Bundle that is not valid JSON stops the
//! reading at the damaged place: the error names its line and column.

use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use serde::Deserializer as _;
use serde::de::{DeserializeSeed, Error as _, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use service::patients::PatientInput;

use super::patient::FhirPatient;
use crate::error::ApiError;

/// One record read from a FHIR file.
#[derive(Debug)]
pub enum FhirRecord {
    /// A Patient the MPI can store.
    Patient {
        /// Line number (NDJSON) or entry index (Bundle).
        position: u64,
        /// `Patient.id`.
        id: String,
        /// The record (boxed: a patient is far larger than a rejection).
        input: Box<PatientInput>,
    },
    /// A record that cannot be imported.
    Rejected {
        /// Line number (NDJSON) or entry index (Bundle).
        position: u64,
        /// The FHIR element at fault (`Patient.gender`), or empty for the whole record.
        field: String,
        /// Why (never the value).
        reason: String,
    },
}

/// A file that cannot be read any further (I/O, or a Bundle that is not valid JSON).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct FhirFileError(pub String);

/// What the reader yields.
pub type FhirItem = Result<FhirRecord, FhirFileError>;

/// Reads NDJSON from `input`, one record per non-blank line.
pub struct NdjsonReader<R: BufRead> {
    name: PathBuf,
    input: R,
    line: u64,
    buf: String,
    done: bool,
}

impl<R: BufRead> NdjsonReader<R> {
    /// A reader of `input`; `name` is used in error messages.
    pub fn new(input: R, name: impl AsRef<Path>) -> Self {
        Self {
            name: name.as_ref().to_owned(),
            input,
            line: 0,
            buf: String::new(),
            done: false,
        }
    }
}

impl<R: BufRead> Iterator for NdjsonReader<R> {
    type Item = FhirItem;

    fn next(&mut self) -> Option<FhirItem> {
        while !self.done {
            self.buf.clear();
            match self.input.read_line(&mut self.buf) {
                Ok(0) => self.done = true,
                Ok(_) => {
                    self.line += 1;
                    let text = self.buf.trim();
                    if text.is_empty() {
                        continue;
                    }
                    return Some(Ok(record_of_text(self.line, text)));
                }
                Err(e) => {
                    self.done = true;
                    let reason = if e.kind() == std::io::ErrorKind::InvalidData {
                        "is not UTF-8 text".to_owned()
                    } else {
                        e.to_string()
                    };
                    return Some(Err(FhirFileError(format!(
                        "{}:{}: {reason}",
                        self.name.display(),
                        self.line + 1
                    ))));
                }
            }
        }
        None
    }
}

/// Reads a Bundle on a thread of its own, handing over one entry at a time through a bounded
/// channel (so memory stays constant).
pub struct BundleReader {
    rx: Receiver<FhirItem>,
}

impl BundleReader {
    /// Starts reading `input`; `name` is used in error messages.
    pub fn new<R: Read + Send + 'static>(input: R, name: impl AsRef<Path>) -> Self {
        let name = name.as_ref().to_owned();
        let (tx, rx) = sync_channel(256);
        std::thread::spawn(move || {
            let mut de = serde_json::Deserializer::from_reader(input);
            let seed = BundleSeed { tx: &tx };
            let result = de.deserialize_map(seed).and_then(|()| de.end());
            if let Err(e) = result {
                // A closed channel means the consumer stopped: nothing left to tell.
                let message = if e.is_io() {
                    format!("{}: {}", name.display(), e)
                } else {
                    format!(
                        "{}:{}:{}: not a readable FHIR Bundle: {}",
                        name.display(),
                        e.line(),
                        e.column(),
                        scrub(&e)
                    )
                };
                let _ = tx.send(Err(FhirFileError(message)));
            }
        });
        Self { rx }
    }
}

impl Iterator for BundleReader {
    type Item = FhirItem;

    fn next(&mut self) -> Option<FhirItem> {
        self.rx.recv().ok()
    }
}

/// Which FHIR layout a file has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FhirLayout {
    /// One resource per line.
    Ndjson,
    /// One Bundle.
    Bundle,
}

/// Tells NDJSON from a Bundle by the file's start: a first line that is a whole JSON object
/// other than a Bundle means NDJSON; anything else starting with `{` is a Bundle. `None` when
/// the file does not start with `{` (not FHIR JSON).
pub fn sniff(start: &[u8]) -> Option<FhirLayout> {
    let text = String::from_utf8_lossy(start);
    let text = text.trim_start_matches('\u{feff}').trim_start();
    if !text.starts_with('{') {
        return None;
    }
    let Some((first, _)) = text.split_once('\n') else {
        // One line only (or longer than what was read): a whole object that is not a
        // Bundle is a one-line NDJSON file.
        return Some(match serde_json::from_str::<Value>(text) {
            Ok(v) if v.get("resourceType") != Some(&Value::from("Bundle")) => FhirLayout::Ndjson,
            _ => FhirLayout::Bundle,
        });
    };
    Some(match serde_json::from_str::<Value>(first) {
        Ok(v) if v.get("resourceType") != Some(&Value::from("Bundle")) => FhirLayout::Ndjson,
        _ => FhirLayout::Bundle,
    })
}

struct BundleSeed<'a> {
    tx: &'a SyncSender<FhirItem>,
}

impl<'de> DeserializeSeed<'de> for BundleSeed<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for BundleSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a FHIR Bundle (a JSON object)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut is_bundle = false;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "resourceType" => {
                    let t: String = map.next_value()?;
                    if t != "Bundle" {
                        return Err(A::Error::custom(
                            "resourceType is not Bundle (NDJSON has one resource per line)",
                        ));
                    }
                    is_bundle = true;
                }
                "entry" => map.next_value_seed(EntriesSeed { tx: self.tx })?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if is_bundle {
            Ok(())
        } else {
            Err(A::Error::custom("resourceType Bundle is missing"))
        }
    }
}

struct EntriesSeed<'a> {
    tx: &'a SyncSender<FhirItem>,
}

impl<'de> DeserializeSeed<'de> for EntriesSeed<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for EntriesSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a list of entries")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0u64;
        while let Some(entry) = seq.next_element::<Value>()? {
            let record = match entry {
                Value::Object(mut fields) => match fields.remove("resource") {
                    Some(resource) => record_of_value(index, resource),
                    None => rejected(index, "resource", "is missing"),
                },
                _ => rejected(index, "", "the entry is not a JSON object"),
            };
            if self.tx.send(Ok(record)).is_err() {
                return Err(A::Error::custom("the import stopped"));
            }
            index += 1;
        }
        Ok(())
    }
}

fn rejected(position: u64, field: &str, reason: &str) -> FhirRecord {
    FhirRecord::Rejected {
        position,
        field: field.to_owned(),
        reason: reason.to_owned(),
    }
}

/// The record on one NDJSON line.
fn record_of_text(position: u64, text: &str) -> FhirRecord {
    match serde_json::from_str::<Value>(text) {
        Ok(v) => record_of_value(position, v),
        Err(e) => rejected(
            position,
            "",
            &format!("not valid JSON (column {}): {}", e.column(), scrub(&e)),
        ),
    }
}

/// The record in one parsed resource.
fn record_of_value(position: u64, v: Value) -> FhirRecord {
    match v.get("resourceType").and_then(Value::as_str) {
        Some("Patient") => {}
        Some(_) => return rejected(position, "resourceType", "is not Patient"),
        None => return rejected(position, "resourceType", "is missing"),
    }
    match serde_path_to_error::deserialize::<_, FhirPatient>(v) {
        Ok(p) => record_of_patient(position, p),
        Err(e) => rejected(
            position,
            &fhir_path(&e.path().to_string()),
            &scrub(e.inner()),
        ),
    }
}

fn record_of_patient(position: u64, p: FhirPatient) -> FhirRecord {
    let id = match p.id.as_deref().map(str::trim) {
        Some(id) if !id.is_empty() => id.to_owned(),
        _ => {
            return rejected(
                position,
                "Patient.id",
                "is required (it is the record's id in the source)",
            );
        }
    };
    match p.to_input() {
        Ok(input) => FhirRecord::Patient {
            position,
            id,
            input: Box::new(input),
        },
        Err(ApiError::InvalidValue { message, field }) => {
            let field = field.unwrap_or_default();
            let reason = message
                .strip_prefix(&format!("{field}: "))
                .unwrap_or(&message)
                .to_owned();
            rejected(position, &field, &reason)
        }
        Err(other) => rejected(position, "", &other.to_string()),
    }
}

/// `Patient.` and the path serde reports (`name[0].use`); the root is `Patient`.
fn fhir_path(path: &str) -> String {
    match path {
        "" | "." | "?" => "Patient".to_owned(),
        p => format!("Patient.{p}"),
    }
}

/// A deserialisation error's message without the value it quotes (person data is PHI) and
/// without the position (the reject gives it).
fn scrub(e: &serde_json::Error) -> String {
    let message = e.to_string();
    let message = match message.rfind(" at line ") {
        Some(at) => &message[..at],
        None => &message,
    };
    let expected = |rest: &str| {
        rest.split_once(", expected ")
            .map(|(_, what)| what.to_owned())
            .unwrap_or_else(|| "something else".to_owned())
    };
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        format!("has the wrong JSON type (expected {})", expected(rest))
    } else if let Some(rest) = message.strip_prefix("invalid value: ") {
        format!("has an invalid value (expected {})", expected(rest))
    } else if let Some(rest) = message.strip_prefix("unknown field `") {
        let name = rest.split('`').next().unwrap_or_default();
        format!("the element `{name}` is not one the MPI stores")
    } else if let Some(rest) = message.strip_prefix("unknown variant `") {
        let _ = rest;
        "is not a known code".to_owned()
    } else {
        message.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ndjson(text: &str) -> Vec<FhirRecord> {
        NdjsonReader::new(text.as_bytes(), "t.ndjson")
            .map(|r| r.expect("readable"))
            .collect()
    }

    fn reject_of(r: &FhirRecord) -> (u64, &str, &str) {
        match r {
            FhirRecord::Rejected {
                position,
                field,
                reason,
            } => (*position, field.as_str(), reason.as_str()),
            FhirRecord::Patient { position, .. } => panic!("line {position} was accepted"),
        }
    }

    #[test]
    fn ndjson_lines_become_records_or_rejects_naming_the_element() {
        let text = concat!(
            r#"{"resourceType":"Patient","id":"a1","gender":"female","birthDate":"1962-08-15","name":[{"family":"Fairweather","given":["Ottilie"]}]}"#,
            "\n\n",
            r#"{"resourceType":"Patient","id":"a2","birthDate":"15/08/1962"}"#,
            "\n",
            r#"{"resourceType":"Patient","id":"a3","modifierExtension":[{}]}"#,
            "\n",
            r#"{"resourceType":"Patient","id":"a4","active":"Secret Name"}"#,
            "\n",
            r#"{"resourceType":"Observation","id":"o1"}"#,
            "\n",
            r#"{"resourceType":"Patient","id":"a6","name":[{"use":"nick"}]}"#,
            "\n",
            r#"{"resourceType":"Patient","name":[{"family":"X"}]}"#,
            "\n",
            r#"{"resourceType":"Patient","id":"a8""#,
            "\n",
        );
        let records = ndjson(text);
        assert_eq!(records.len(), 8);
        match &records[0] {
            FhirRecord::Patient {
                position,
                id,
                input,
            } => {
                assert_eq!((*position, id.as_str()), (1, "a1"));
                assert_eq!(input.names[0].family.as_deref(), Some("Fairweather"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            reject_of(&records[1]),
            (
                3,
                "Patient.birthDate",
                "must be a date YYYY, YYYY-MM or YYYY-MM-DD"
            )
        );
        let (line, field, reason) = reject_of(&records[2]);
        assert_eq!((line, field), (4, "Patient.modifierExtension"));
        assert!(reason.contains("`modifierExtension`"), "{reason}");
        let (line, field, reason) = reject_of(&records[3]);
        assert_eq!((line, field), (5, "Patient.active"));
        assert!(!reason.contains("Secret"), "the value leaked: {reason}");
        assert_eq!(
            reject_of(&records[4]),
            (6, "resourceType", "is not Patient")
        );
        assert_eq!(
            reject_of(&records[5]),
            (7, "Patient.name[0].use", "is not a known code")
        );
        assert_eq!(reject_of(&records[6]).0..=reject_of(&records[6]).0, 8..=8);
        assert_eq!(reject_of(&records[6]).1, "Patient.id");
        let (line, field, reason) = reject_of(&records[7]);
        assert_eq!((line, field), (9, ""));
        assert!(reason.starts_with("not valid JSON"), "{reason}");
    }

    #[test]
    fn a_bundle_is_streamed_entry_by_entry() {
        let text = r#"{
          "resourceType": "Bundle", "type": "collection",
          "entry": [
            {"fullUrl": "urn:uuid:1", "resource": {"resourceType": "Patient", "id": "b1", "name": [{"family": "Quennell"}]}},
            {"resource": {"resourceType": "Patient", "id": "b2", "gender": "robot"}},
            {"request": {"method": "POST", "url": "Patient"}}
          ]
        }"#;
        let records: Vec<FhirRecord> = BundleReader::new(std::io::Cursor::new(text), "b.json")
            .map(|r| r.expect("readable"))
            .collect();
        assert_eq!(records.len(), 3);
        assert!(matches!(&records[0], FhirRecord::Patient { position: 0, id, .. } if id == "b1"));
        assert_eq!(
            reject_of(&records[1]),
            (1, "Patient.gender", "is not a known code")
        );
        assert_eq!(reject_of(&records[2]), (2, "resource", "is missing"));
    }

    #[test]
    fn a_damaged_bundle_stops_with_line_and_column_after_the_good_entries() {
        let text = "{\"resourceType\":\"Bundle\",\"entry\":[\n{\"resource\":{\"resourceType\":\"Patient\",\"id\":\"b1\",\"name\":[{\"family\":\"Q\"}]}},\n{\"resource\":{\"resourceType\":\"Patient\",\n";
        let items: Vec<FhirItem> =
            BundleReader::new(std::io::Cursor::new(text.to_owned()), "b.json").collect();
        assert_eq!(items.len(), 2);
        assert!(matches!(&items[0], Ok(FhirRecord::Patient { .. })));
        let error = items[1].as_ref().expect_err("damaged").to_string();
        assert!(error.starts_with("b.json:4:"), "{error}");
    }

    #[test]
    fn sniffing_tells_ndjson_from_a_bundle() {
        assert_eq!(
            sniff(b"{\"resourceType\":\"Patient\",\"id\":\"1\"}\n{\"resourceType\":\"Patient\"}\n"),
            Some(FhirLayout::Ndjson)
        );
        assert_eq!(
            sniff(b"{\n  \"resourceType\": \"Bundle\",\n"),
            Some(FhirLayout::Bundle)
        );
        assert_eq!(
            sniff(b"{\"resourceType\":\"Bundle\",\"entry\":[]}"),
            Some(FhirLayout::Bundle)
        );
        assert_eq!(sniff(b"id,given_name\n"), None);
    }
}
