//! The person CSV: the one file layout every batch command reads and writes (`mpi import`,
//! `mpi gen`, `mpi dedupe --input`, `mpi link`, `mpi train`, `mpi eval`).
//!
//! # Layout
//! A header row, then one person per row. Known columns, in any order:
//!
//! | column | maps to [`PersonRecord`] |
//! |---|---|
//! | `id` (required, non-empty) | the row's id (not part of the record) |
//! | `given_name` | `given_names[0]` |
//! | `middle_name` | `given_names[1]` (several middle names stay one entry) |
//! | `family_name` | `family_names[0]` |
//! | `sex` | `male`, `female`, `other`, `unknown`, `M`, `F` (any case) |
//! | `birth_date` | `YYYY-MM-DD` or `YYYYMMDD`, a real calendar date; kept as written |
//! | `address_line`, `address_line2` | `addresses[0].lines` |
//! | `city`, `state`, `postal_code`, `country` | `addresses[0]` |
//! | `phone` | `phones[0]` |
//! | `email` | `emails[0]` |
//! | `national_id` | an identifier of system [`NATIONAL_ID_SYSTEM`] |
//! | `mrn`, `mrn_system` | an identifier of system `mrn_system` (empty system when absent) |
//!
//! Every column but `id` is optional; unknown columns are ignored, except the extra columns a
//! caller asks for by name (a ground-truth `cluster_id`, say), which are read alongside. Fields are
//! trimmed; an empty field is a missing value. A column named twice is a header error.
//!
//! # Reading
//! [`PersonCsvReader`] streams rows in constant memory (one reused record buffer). Each item is a
//! [`PersonRow`] or an error: [`PersonCsvError::Row`] (a bad row, with its line number, column and
//! reason; reading can go on with the next row) or a fatal error (I/O), after which the
//! iterator ends. Ids are not checked for uniqueness here (that needs memory proportional to the
//! file); callers that hold every row check it themselves.
//!
//! # Writing
//! [`PersonCsvWriter`] writes the header (all [`COLUMNS`], then the caller's extra columns) and one
//! row per record. What has no column is not written: given names after the second (they are
//! joined into `middle_name`), former family names, second addresses, phones, e-mails, and
//! identifiers beyond the first national id and the first other identifier.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use matcher::{Address, Identifier, PersonRecord, Sex};

/// Identifier system of the `national_id` column (the synthetic generator's national id system).
pub const NATIONAL_ID_SYSTEM: &str = matcher::synth::NATIONAL_ID_SYSTEM;

/// The known columns, in the order the writer uses.
pub const COLUMNS: [&str; 17] = [
    "id",
    "given_name",
    "middle_name",
    "family_name",
    "sex",
    "birth_date",
    "address_line",
    "address_line2",
    "city",
    "state",
    "postal_code",
    "country",
    "phone",
    "email",
    "national_id",
    "mrn",
    "mrn_system",
];

/// One bad row: where and why. Displays as `line 17: column birth_date: invalid date ...`;
/// [`RowError::at`] prefixes a file name the way compilers do (`file.csv:17: ...`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {}{reason}", column_prefix(.column))]
pub struct RowError {
    /// 1-based line number in the file (the header is line 1).
    pub line: u64,
    /// The column at fault; empty when the whole row is (wrong number of fields, bad encoding).
    pub column: String,
    /// What is wrong (never the field's value: person data is PHI).
    pub reason: String,
}

fn column_prefix(column: &str) -> String {
    if column.is_empty() {
        String::new()
    } else {
        format!("column {column}: ")
    }
}

impl RowError {
    /// `file:line: column c: reason`.
    pub fn at(&self, file: &Path) -> String {
        format!(
            "{}:{}: {}{}",
            file.display(),
            self.line,
            column_prefix(&self.column),
            self.reason
        )
    }
}

/// Errors reading or writing a person CSV.
#[derive(Debug, thiserror::Error)]
pub enum PersonCsvError {
    /// The file could not be opened or created.
    #[error("{}: {source}", .path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The header row is unusable (missing `id`, a column named twice, no header at all).
    #[error("{}:1: header: {reason}", .path.display())]
    Header {
        /// The file (`<input>` for a reader not opened from a path).
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// One bad row; reading may continue with the next row.
    #[error("{}", .0.at(.1))]
    Row(RowError, PathBuf),
    /// Reading or writing failed (I/O); the reader stops after it.
    #[error("{}: {reason}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What happened.
        reason: String,
    },
}

impl PersonCsvError {
    /// The row error, when this is one (recoverable: the next row can still be read).
    pub fn row(&self) -> Option<&RowError> {
        match self {
            PersonCsvError::Row(e, _) => Some(e),
            _ => None,
        }
    }
}

/// One good row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PersonRow {
    /// 1-based line number of the row.
    pub line: u64,
    /// The row's `id`.
    pub id: String,
    /// The person.
    pub record: PersonRecord,
    /// The values of the extra columns asked for, in the order asked (`None` when empty).
    pub extra: Vec<Option<String>>,
}

/// Column positions of the known fields (index into the row) for one header.
#[derive(Clone, Debug, Default)]
struct Layout {
    known: [Option<usize>; COLUMNS.len()],
    extra: Vec<usize>,
}

/// Index of a known column in [`COLUMNS`].
const fn col(name: &str) -> usize {
    let mut i = 0;
    while i < COLUMNS.len() {
        if eq(COLUMNS[i].as_bytes(), name.as_bytes()) {
            return i;
        }
        i += 1;
    }
    panic!("unknown column");
}

const fn eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

const ID: usize = col("id");
const GIVEN: usize = col("given_name");
const MIDDLE: usize = col("middle_name");
const FAMILY: usize = col("family_name");
const SEX: usize = col("sex");
const BIRTH_DATE: usize = col("birth_date");
const LINE1: usize = col("address_line");
const LINE2: usize = col("address_line2");
const CITY: usize = col("city");
const STATE: usize = col("state");
const POSTAL: usize = col("postal_code");
const COUNTRY: usize = col("country");
const PHONE: usize = col("phone");
const EMAIL: usize = col("email");
const NATIONAL_ID: usize = col("national_id");
const MRN: usize = col("mrn");
const MRN_SYSTEM: usize = col("mrn_system");

/// A streaming person CSV reader (see the module documentation).
pub struct PersonCsvReader<R: Read> {
    path: PathBuf,
    reader: csv::Reader<StripCr<R>>,
    layout: Layout,
    buffer: csv::StringRecord,
    done: bool,
}

impl<R: Read> std::fmt::Debug for PersonCsvReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersonCsvReader")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl PersonCsvReader<File> {
    /// Opens `path` and validates its header; `extra` names extra columns to read (each must be
    /// present in the header).
    pub fn open(path: impl AsRef<Path>, extra: &[&str]) -> Result<Self, PersonCsvError> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|source| PersonCsvError::Open {
            path: path.to_owned(),
            source,
        })?;
        Self::new(file, path, extra)
    }
}

impl<R: Read> PersonCsvReader<R> {
    /// Reads a person CSV from `input`; `name` is used in error messages (a path or `<stdin>`).
    pub fn new(input: R, name: impl AsRef<Path>, extra: &[&str]) -> Result<Self, PersonCsvError> {
        let path = name.as_ref().to_owned();
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(false)
            .trim(csv::Trim::All)
            .from_reader(StripCr(input));
        let header_error = |reason: String| PersonCsvError::Header {
            path: path.clone(),
            reason,
        };
        let headers = match reader.headers() {
            Ok(h) => h.clone(),
            Err(e) => return Err(header_error(csv_reason(&e))),
        };
        if headers.is_empty() || headers.iter().all(str::is_empty) {
            return Err(header_error(
                "the file is empty or has no header row".into(),
            ));
        }
        let mut layout = Layout::default();
        for (position, name) in headers.iter().enumerate() {
            let name = name.trim_start_matches('\u{feff}');
            if let Some(k) = COLUMNS.iter().position(|c| *c == name) {
                if layout.known[k].is_some() {
                    return Err(header_error(format!("column {name} appears twice")));
                }
                layout.known[k] = Some(position);
            }
        }
        if layout.known[ID].is_none() {
            return Err(header_error(format!(
                "no id column (columns: {})",
                COLUMNS.join(", ")
            )));
        }
        for wanted in extra {
            let found: Vec<usize> = headers
                .iter()
                .enumerate()
                .filter(|(_, h)| h == wanted)
                .map(|(i, _)| i)
                .collect();
            match found.as_slice() {
                [one] => layout.extra.push(*one),
                [] => return Err(header_error(format!("no {wanted} column"))),
                _ => return Err(header_error(format!("column {wanted} appears twice"))),
            }
        }
        Ok(Self {
            path,
            reader,
            layout,
            buffer: csv::StringRecord::new(),
            done: false,
        })
    }

    /// The name errors use (the path, or what was given to [`PersonCsvReader::new`]).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the next row; `None` at the end of the input or after a fatal error.
    fn next_row(&mut self) -> Option<Result<PersonRow, PersonCsvError>> {
        if self.done {
            return None;
        }
        match self.reader.read_record(&mut self.buffer) {
            Ok(false) => {
                self.done = true;
                None
            }
            Ok(true) => {
                let line = self.buffer.position().map_or(0, csv::Position::line);
                Some(
                    parse_row(&self.buffer, &self.layout, line)
                        .map_err(|e| PersonCsvError::Row(e, self.path.clone())),
                )
            }
            Err(e) => {
                let line = e.position().map(csv::Position::line);
                match (e.kind(), line) {
                    (
                        csv::ErrorKind::UnequalLengths { .. } | csv::ErrorKind::Utf8 { .. },
                        Some(line),
                    ) => Some(Err(PersonCsvError::Row(
                        RowError {
                            line,
                            column: String::new(),
                            reason: csv_reason(&e),
                        },
                        self.path.clone(),
                    ))),
                    _ => {
                        self.done = true;
                        Some(Err(PersonCsvError::Io {
                            path: self.path.clone(),
                            reason: csv_reason(&e),
                        }))
                    }
                }
            }
        }
    }
}

/// Drops every carriage return: the csv crate numbers the rows of a CRLF file one line too low
/// (the `\n` of a `\r\n` is consumed as the start of the next record), and a row's line number
/// is the only pointer a user gets to a bad row. Fields are trimmed anyway.
struct StripCr<R>(R);

impl<R: Read> Read for StripCr<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let n = self.0.read(buf)?;
            if n == 0 {
                return Ok(0);
            }
            let mut kept = 0;
            for i in 0..n {
                if buf[i] != b'\r' {
                    buf[kept] = buf[i];
                    kept += 1;
                }
            }
            if kept > 0 {
                return Ok(kept);
            }
        }
    }
}

impl<R: Read> Iterator for PersonCsvReader<R> {
    type Item = Result<PersonRow, PersonCsvError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_row()
    }
}

/// A csv error's cause without the value that caused it.
fn csv_reason(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("expected {expected_len} fields, found {len}"),
        csv::ErrorKind::Utf8 { .. } => "not valid UTF-8".to_owned(),
        csv::ErrorKind::Io(io) => format!("cannot read: {io}"),
        _ => e.to_string(),
    }
}

fn parse_row(row: &csv::StringRecord, layout: &Layout, line: u64) -> Result<PersonRow, RowError> {
    let field = |k: usize| -> Option<&str> {
        layout.known[k]
            .and_then(|i| row.get(i))
            .filter(|v| !v.is_empty())
    };
    let owned = |k: usize| field(k).map(str::to_owned);
    let fail = |column: &str, reason: &str| RowError {
        line,
        column: column.to_owned(),
        reason: reason.to_owned(),
    };
    let id = owned(ID).ok_or_else(|| fail("id", "missing id"))?;
    let sex = match field(SEX) {
        None => None,
        Some(v) => Some(parse_sex(v).ok_or_else(|| {
            fail(
                "sex",
                "invalid sex (expected male, female, other, unknown, M or F)",
            )
        })?),
    };
    let birth_date = match field(BIRTH_DATE) {
        None => None,
        Some(v) if valid_date(v) => Some(v.to_owned()),
        Some(_) => {
            return Err(fail(
                "birth_date",
                "invalid date (expected YYYY-MM-DD or YYYYMMDD)",
            ));
        }
    };
    let given_names: Vec<String> = [GIVEN, MIDDLE].into_iter().filter_map(owned).collect();
    let family_names: Vec<String> = owned(FAMILY).into_iter().collect();
    let lines: Vec<String> = [LINE1, LINE2].into_iter().filter_map(owned).collect();
    let address = Address {
        lines,
        city: owned(CITY),
        state: owned(STATE),
        postal_code: owned(POSTAL),
        country: owned(COUNTRY),
    };
    let addresses = if address == Address::default() {
        Vec::new()
    } else {
        vec![address]
    };
    let mut identifiers = Vec::new();
    if let Some(value) = owned(NATIONAL_ID) {
        identifiers.push(Identifier {
            system: NATIONAL_ID_SYSTEM.to_owned(),
            value,
        });
    }
    match (owned(MRN), owned(MRN_SYSTEM)) {
        (Some(value), system) => identifiers.push(Identifier {
            system: system.unwrap_or_default(),
            value,
        }),
        (None, Some(_)) => return Err(fail("mrn_system", "mrn_system given without an mrn")),
        (None, None) => {}
    }
    let extra = layout
        .extra
        .iter()
        .map(|&i| row.get(i).filter(|v| !v.is_empty()).map(str::to_owned))
        .collect();
    Ok(PersonRow {
        line,
        id,
        record: PersonRecord {
            given_names,
            family_names,
            sex,
            birth_date,
            addresses,
            phones: owned(PHONE).into_iter().collect(),
            emails: owned(EMAIL).into_iter().collect(),
            identifiers,
        },
        extra,
    })
}

/// `male`, `female`, `other`, `unknown`, `M`, `F`, any case.
pub fn parse_sex(value: &str) -> Option<Sex> {
    match value.to_ascii_lowercase().as_str() {
        "male" | "m" => Some(Sex::Male),
        "female" | "f" => Some(Sex::Female),
        "other" => Some(Sex::Other),
        "unknown" => Some(Sex::Unknown),
        _ => None,
    }
}

/// The column text of a sex.
pub fn sex_text(sex: Sex) -> &'static str {
    match sex {
        Sex::Male => "male",
        Sex::Female => "female",
        Sex::Other => "other",
        Sex::Unknown => "unknown",
    }
}

/// `YYYY-MM-DD` or `YYYYMMDD` naming a real calendar date.
pub fn valid_date(value: &str) -> bool {
    let format = match value.len() {
        10 => "%Y-%m-%d",
        8 if value.bytes().all(|b| b.is_ascii_digit()) => "%Y%m%d",
        _ => return false,
    };
    chrono::NaiveDate::parse_from_str(value, format).is_ok()
}

/// A streaming person CSV writer (see the module documentation).
pub struct PersonCsvWriter<W: Write> {
    path: PathBuf,
    writer: csv::Writer<W>,
    extra: usize,
    fields: Vec<String>,
}

impl<W: Write> std::fmt::Debug for PersonCsvWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersonCsvWriter")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl PersonCsvWriter<io::BufWriter<File>> {
    /// Creates (or truncates) `path` and writes the header: [`COLUMNS`], then `extra`.
    pub fn create(path: impl AsRef<Path>, extra: &[&str]) -> Result<Self, PersonCsvError> {
        let path = path.as_ref();
        let file = File::create(path).map_err(|source| PersonCsvError::Open {
            path: path.to_owned(),
            source,
        })?;
        Self::new(io::BufWriter::with_capacity(1 << 20, file), path, extra)
    }
}

impl<W: Write> PersonCsvWriter<W> {
    /// Writes to `output` (named `name` in errors) and writes the header.
    pub fn new(output: W, name: impl AsRef<Path>, extra: &[&str]) -> Result<Self, PersonCsvError> {
        let mut w = PersonCsvWriter {
            path: name.as_ref().to_owned(),
            writer: csv::WriterBuilder::new().from_writer(output),
            extra: extra.len(),
            fields: vec![String::new(); COLUMNS.len() + extra.len()],
        };
        let header: Vec<&str> = COLUMNS
            .iter()
            .copied()
            .chain(extra.iter().copied())
            .collect();
        w.writer.write_record(&header).map_err(|e| w.io(&e))?;
        Ok(w)
    }

    fn io(&self, e: &csv::Error) -> PersonCsvError {
        PersonCsvError::Io {
            path: self.path.clone(),
            reason: format!("cannot write: {e}"),
        }
    }

    /// Writes one row; `extra` holds the values of the extra columns (missing ones are empty).
    pub fn write(
        &mut self,
        id: &str,
        record: &PersonRecord,
        extra: &[&str],
    ) -> Result<(), PersonCsvError> {
        for f in &mut self.fields {
            f.clear();
        }
        let set = |fields: &mut Vec<String>, k: usize, v: &str| fields[k].push_str(v);
        let f = &mut self.fields;
        set(f, ID, id);
        if let Some(g) = record.given_names.first() {
            set(f, GIVEN, g);
        }
        if record.given_names.len() > 1 {
            set(f, MIDDLE, &record.given_names[1..].join(" "));
        }
        if let Some(v) = record.family_names.first() {
            set(f, FAMILY, v);
        }
        if let Some(s) = record.sex {
            set(f, SEX, sex_text(s));
        }
        if let Some(v) = &record.birth_date {
            set(f, BIRTH_DATE, v);
        }
        if let Some(a) = record.addresses.first() {
            if let Some(v) = a.lines.first() {
                set(f, LINE1, v);
            }
            if a.lines.len() > 1 {
                set(f, LINE2, &a.lines[1..].join(", "));
            }
            for (k, v) in [
                (CITY, &a.city),
                (STATE, &a.state),
                (POSTAL, &a.postal_code),
                (COUNTRY, &a.country),
            ] {
                if let Some(v) = v {
                    set(f, k, v);
                }
            }
        }
        if let Some(v) = record.phones.first() {
            set(f, PHONE, v);
        }
        if let Some(v) = record.emails.first() {
            set(f, EMAIL, v);
        }
        if let Some(n) = record
            .identifiers
            .iter()
            .find(|i| i.system == NATIONAL_ID_SYSTEM)
        {
            set(f, NATIONAL_ID, &n.value);
        }
        if let Some(m) = record
            .identifiers
            .iter()
            .find(|i| i.system != NATIONAL_ID_SYSTEM)
        {
            set(f, MRN, &m.value);
            set(f, MRN_SYSTEM, &m.system);
        }
        for (slot, v) in f[COLUMNS.len()..]
            .iter_mut()
            .zip(extra.iter().take(self.extra))
        {
            slot.push_str(v);
        }
        self.writer
            .write_record(self.fields.iter())
            .map_err(|e| self.io(&e))
    }

    /// Flushes everything written and returns the output.
    pub fn finish(self) -> Result<W, PersonCsvError> {
        let path = self.path;
        self.writer.into_inner().map_err(|e| PersonCsvError::Io {
            path,
            reason: format!("cannot write: {}", e.error()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(text: &str, extra: &[&str]) -> Vec<Result<PersonRow, String>> {
        PersonCsvReader::new(text.as_bytes(), "t.csv", extra)
            .expect("header")
            .map(|r| r.map_err(|e| e.to_string()))
            .collect()
    }

    #[test]
    fn reads_columns_in_any_order_and_ignores_unknown_ones() {
        let rows = read_all(
            "family_name,shoe_size,id,birth_date,sex,national_id,mrn,mrn_system,cluster_id\n\
             Smith,42,a1,19610412,F,123-45-6789,M7,urn:f:1,c9\n",
            &["cluster_id"],
        );
        let row = rows[0].clone().expect("row");
        assert_eq!(row.line, 2);
        assert_eq!(row.id, "a1");
        assert_eq!(row.extra, vec![Some("c9".to_owned())]);
        assert_eq!(row.record.family_names, vec!["Smith"]);
        assert_eq!(row.record.sex, Some(Sex::Female));
        assert_eq!(row.record.birth_date.as_deref(), Some("19610412"));
        assert_eq!(
            row.record.identifiers,
            vec![
                Identifier {
                    system: NATIONAL_ID_SYSTEM.into(),
                    value: "123-45-6789".into()
                },
                Identifier {
                    system: "urn:f:1".into(),
                    value: "M7".into()
                }
            ]
        );
        assert!(row.record.addresses.is_empty());
    }

    #[test]
    fn bad_rows_name_line_and_column_and_reading_goes_on() {
        let rows = read_all(
            "id,birth_date,sex\r\n\
             a,1961-02-30,\r\n\
             b,1961-02-28,x\n\
             c,1961-02-28\n\
             ,1961-02-28,m\n\
             e,19610228,M\n",
            &[],
        );
        let errors: Vec<String> = rows
            .iter()
            .filter_map(|r| r.as_ref().err().cloned())
            .collect();
        assert_eq!(
            errors,
            [
                "t.csv:2: column birth_date: invalid date (expected YYYY-MM-DD or YYYYMMDD)",
                "t.csv:3: column sex: invalid sex (expected male, female, other, unknown, M or F)",
                "t.csv:4: expected 3 fields, found 2",
                "t.csv:5: column id: missing id",
            ]
        );
        let last = rows[4].as_ref().expect("good row");
        assert_eq!((last.line, last.id.as_str()), (6, "e"));
    }

    #[test]
    fn header_errors_are_clear() {
        let err = |text: &str, extra: &[&str]| {
            PersonCsvReader::new(text.as_bytes(), "h.csv", extra)
                .expect_err("header error")
                .to_string()
        };
        assert_eq!(
            err("given_name,family_name\nA,B\n", &[]),
            format!(
                "h.csv:1: header: no id column (columns: {})",
                COLUMNS.join(", ")
            )
        );
        assert_eq!(
            err("id,city,city\n", &[]),
            "h.csv:1: header: column city appears twice"
        );
        assert_eq!(
            err("id,city\n", &["cluster_id"]),
            "h.csv:1: header: no cluster_id column"
        );
        assert_eq!(
            err("", &[]),
            "h.csv:1: header: the file is empty or has no header row"
        );
    }

    #[test]
    fn writes_what_it_reads() {
        let record = PersonRecord {
            given_names: vec!["Anne".into(), "Marie".into()],
            family_names: vec!["O'Neil, Jr".into()],
            sex: Some(Sex::Other),
            birth_date: Some("2001-12-31".into()),
            addresses: vec![Address {
                lines: vec!["1 \"Quoted\" St".into(), "Unit 2".into()],
                city: Some("Springfield".into()),
                state: None,
                postal_code: Some("01101".into()),
                country: Some("US".into()),
            }],
            phones: vec!["+1 555 0100".into()],
            emails: vec!["a@example.org".into()],
            identifiers: vec![Identifier {
                system: "urn:mpi:facility:01".into(),
                value: "MRN-1".into(),
            }],
        };
        let mut w = PersonCsvWriter::new(Vec::new(), "w.csv", &["cluster_id"]).expect("header");
        w.write("x1", &record, &["7"]).expect("write");
        w.write("x2", &PersonRecord::default(), &[]).expect("write");
        let bytes = w.finish().expect("finish");
        let text = String::from_utf8(bytes).expect("utf8");
        let rows: Vec<PersonRow> = read_all(&text, &["cluster_id"])
            .into_iter()
            .map(|r| r.expect("row"))
            .collect();
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].id.as_str(), &rows[0].record), ("x1", &record));
        assert_eq!(rows[0].extra, vec![Some("7".to_owned())]);
        assert_eq!(rows[1].record, PersonRecord::default());
        assert_eq!(rows[1].extra, vec![None]);
    }
}
