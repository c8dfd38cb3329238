//! The person CSV: the one file layout every batch command reads and writes (`mpi import`,
//! `mpi gen`, `mpi dedupe --input`, `mpi link`, `mpi train`, `mpi eval`).
//!
//! # Layout
//! A header row, then one person per row. Known columns, in any order:
//!
//! | column | maps to [`PersonRecord`] |
//! |---|---|
//! | `id` (required, non-empty; without an id column, [`ReadOptions::line_ids`] names each row by its line number) | the row's id (not part of the record) |
//! | `given_name` | `given_names[0]` |
//! | `middle_name` | `given_names[1]` (several middle names stay one entry) |
//! | `family_name` | `family_names[0]` |
//! | `sex` | `male`, `female`, `other`, `unknown`, `M`, `F`, `O`, `U`, `UNK` (any case), or ISO/IEC 5218's `1` (male), `2` (female), `0` and `9` (unknown) |
//! | `birth_date` | `YYYY-MM-DD` or `YYYYMMDD`, a real calendar date, or a year (`1984`) or year and month (`1984-01`); kept as written (a time of day after it dropped); a month written as a name (`12-MAR-85`, `Mar 12, 1985`, also after a weekday: `Tuesday, March 12, 1985`), year first with `/` or `.` (`1984/07/02`) or `DD/MM/YYYY` or `MM/DD/YYYY` (also with `.` or `-`, or a two-digit year: `3/5/72`) in the file's order (see below), passed on as `YYYY-MM-DD` |
//! | `address_line`, `address_line2` | `addresses[0].lines` |
//! | `city`, `state`, `postal_code`, `country` | `addresses[0]` |
//! | `phone` | `phones[0]` |
//! | `email` | `emails[0]` |
//! | `national_id` | an identifier of system [`NATIONAL_ID_SYSTEM`] |
//! | `mrn`, `mrn_system` | an identifier of system `mrn_system` (empty system when absent) |
//! | `mother_identifier_system`, `mother_identifier_value` | `maternity.mother_identifier` (empty system when absent) |
//! | `mother_identifier` (read only) | the same as `SYSTEM\|VALUE`, or a value alone |
//! | `mother_maiden_name` | `maternity.mother_maiden_name` |
//! | `birth_year`, `birth_month`, `birth_day` (read only) | `birth_date` as `YYYY`, `YYYY-MM` or `YYYY-MM-DD` of the parts a row has from its year (a month as a number or a name), read when the row has no `birth_date` |
//! | `full_name` (read only) | the whole name in one field (`Family, Given Middle`, `FAMILY^GIVEN^MIDDLE` or `Given Middle Family`), read when the row has no given, middle or family name |
//!
//! Every column but `id` is optional; unknown columns are ignored, except the extra columns a
//! caller asks for by name (a ground-truth `cluster_id`, say), which are read alongside. Fields are
//! trimmed; an empty field is a missing value; a phone, postal code, identifier or birth date written
//! as a float (`5551234567.0`, as spreadsheets and data frames write numbers) loses its zero
//! fraction. A column named twice is a header error.
//!
//! # Facilities' own headers
//! Headers are matched case-insensitively and without spaces, underscores or punctuation, to
//! the names above or one of their common synonyms ([`SYNONYMS`]: `FirstName`, `forename`,
//! `SURNAME`, `DOB`, `zip`, `postcode`, `SSN`, `soc_sec_id`, `Gender`, `mobile`, `MRN`, `Name`,
//! `EnterpriseID`, `yob`, ...), also behind a word such as `Patient`, `PAT_` or `res_` and with an
//! abbreviated ending such as `_NM`, `_CD`, `_NUM` or `_DESC` (`Patient Last Name`,
//! `PAT_FIRST_NM`, `SEX_CD`, `res_city_desc`: [`column_of_header`]);
//! a `street_number` column is put in front of the first address line. Several phone or e-mail
//! columns (`phone` and `mobile`) are all read. [`ReadOptions::columns`] maps columns explicitly
//! (`given_name=FirstName`), ahead of the synonyms. Two headers that mean one single-valued
//! column are a header error that says which. The delimiter (`,`, `;`, tab or `|`) is the one
//! of these the header row holds most of outside quotes, unless [`ReadOptions::delimiter`] says.
//! A file saved as UTF-16 (Excel's "Unicode Text", SQL Server and Windows PowerShell exports) is
//! transcoded to UTF-8 as it is read ([`decoded`]).
//! [`PersonCsvReader::mapping`] and [`PersonCsvReader::ignored`] tell what was understood.
//!
//! # The order of day and month
//! A file writes its dates one way: `03/05/1972` is 3 May in Europe and March 5 in the United
//! States. [`ReadOptions::date_order`] says which; without it the reader looks at the birth
//! dates of the first [`DATE_ORDER_SAMPLE`] rows and takes the order in which those that fit
//! only one order fit (`25/12/1990` only day first, `12/25/1990` only month first), when at
//! most one in fifty of them says the other ([`PersonCsvReader::date_order`] tells what was
//! inferred, from how many dates). A file whose dates disagree more, or whose dates all fit
//! both orders, is read as without an order.
//!
//! # Strict and lenient reading
//! Strict (the default): an invalid date or sex code, an `mrn_system` without `mrn` (or a
//! `mother_identifier_system` without `mother_identifier_value`), a `mother_identifier` with an
//! empty value or given beside `mother_identifier_value`, a missing `id`, a row with the wrong
//! number of fields or text that is not UTF-8 make the row an error.
//! Lenient ([`ReadOptions::lenient`]): row-level faults (no id, wrong field count) are still
//! errors, but a bad field only costs that field, with a warning on the row
//! ([`PersonRow::warnings`]): a date that is no calendar date but still carries evidence (a
//! mistyped `19551192`, a year alone, another order of day, month and year) is kept for the
//! matcher, which compares it at its precision or digit by digit, other bad dates and sex codes
//! are dropped; a birth date of five digits is read as the day a spreadsheet counts it (a date cell
//! exported without its format: `30865` is 1984-07-02); a phone, postal code or identifier a
//! spreadsheet wrote in scientific notation (`1.23457E+08`, its last digits lost) is dropped (an
//! error when strict); text that is not UTF-8 is read as Windows-1252, control characters removed, and phones with fewer
//! than 5 digits, postal codes and identifiers (the mother's too) without a letter or digit,
//! a mother's identifier that is not one, and e-mails without `@` are dropped; a row with no name at all is kept with a warning. `NULL`, `N/A`, `#N/A`, `-`
//! and `?` are read as empty. Warnings never quote a value.
//!
//! # Bounds
//! A field longer than [`MAX_FIELD`] bytes is a row error (strict) or dropped (lenient).
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
use std::io::{self, BufRead, Read, Write};
use std::path::{Path, PathBuf};

use matcher::{Address, Identifier, PersonRecord, Sex};

/// Identifier system of the `national_id` column (the synthetic generator's national id system).
pub const NATIONAL_ID_SYSTEM: &str = matcher::synth::NATIONAL_ID_SYSTEM;

/// The known columns, in the order the writer uses.
pub const COLUMNS: [&str; 20] = [
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
    "mother_identifier_system",
    "mother_identifier_value",
    "mother_maiden_name",
];

/// Longest field accepted, in bytes.
pub const MAX_FIELD: usize = 4096;

/// A column read but not written: a house number put in front of the first address line.
const STREET_NUMBER: &str = "street_number";

/// A column read but not written: the mother's identifier as `SYSTEM|VALUE` (or a value alone),
/// written as `mother_identifier_system` and `mother_identifier_value`.
const MOTHER_IDENTIFIER: &str = "mother_identifier";

/// A column read but not written: the whole name in one field (`Whitfield, Margaret Ann`,
/// `Margaret Ann Whitfield`, `WHITFIELD^MARGARET^ANN`), read when a row has no given, middle
/// and family name of its own ([`split_full_name`]).
const FULL_NAME: &str = "full_name";

/// Columns read but not written: a birth date in parts (`birth_year`, `birth_month`,
/// `birth_day`), read when a row has no `birth_date` of its own: `YYYY`, `YYYY-MM` or
/// `YYYY-MM-DD` of the parts it has ([`birth_date_of_parts`]).
const BIRTH_YEAR: &str = "birth_year";
const BIRTH_MONTH: &str = "birth_month";
const BIRTH_DAY: &str = "birth_day";

/// The columns read but not written.
const READ_ONLY: [&str; 6] = [
    STREET_NUMBER,
    MOTHER_IDENTIFIER,
    FULL_NAME,
    BIRTH_YEAR,
    BIRTH_MONTH,
    BIRTH_DAY,
];

/// Common header names of each column, compared after [`header_key`] (lower case, letters and
/// digits only). The column's own name always matches.
pub const SYNONYMS: &[(&str, &[&str])] = &[
    (
        "id",
        &[
            "recid",
            "recordid",
            "rowid",
            "patientid",
            "personid",
            "pid",
            "uid",
            "uniqueid",
            "recno",
            "enterpriseid",
        ],
    ),
    (
        "given_name",
        &[
            "given",
            "givennames",
            "firstname",
            "first",
            "fname",
            "forename",
            "forenames",
            "christianname",
            "name1",
            "prenom",
            "nombre",
            "vorname",
            "nome",
            "voornaam",
        ],
    ),
    (
        "middle_name",
        &[
            "middle",
            "middlenames",
            "mname",
            "middleinitial",
            "midlname",
            "midname",
            "mi",
            "secondname",
            "segundonombre",
        ],
    ),
    (
        "family_name",
        &[
            "family",
            "surname",
            "lastname",
            "last",
            "lname",
            "sname",
            "name2",
            "nom",
            "nomdefamille",
            "apellido",
            "apellidos",
            "nachname",
            "familienname",
            "sobrenome",
            "achternaam",
        ],
    ),
    (
        "sex",
        &[
            "gender",
            "administrativegender",
            "sexcode",
            "sexe",
            "sexo",
            "geschlecht",
            "genre",
            "genero",
            "geslacht",
        ],
    ),
    (
        "birth_date",
        &[
            "dob",
            "dateofbirth",
            "birthdate",
            "birthday",
            "bdate",
            "birthdt",
            "born",
            "datedenaissance",
            "fechadenacimiento",
            "fechanacimiento",
            "geburtsdatum",
            "datadenascimento",
            "datanascimento",
            "geboortedatum",
        ],
    ),
    (
        "address_line",
        &[
            "address",
            "address1",
            "addressline1",
            "addr",
            "addr1",
            "addrline1",
            "addressline",
            "street",
            "streetaddress",
            "streetaddress1",
            "line1",
            "adresse",
            "direccion",
            "domicilio",
            "strasse",
            "endereco",
            "adres",
        ],
    ),
    (
        "address_line2",
        &["address2", "addr2", "addrline2", "streetaddress2", "line2"],
    ),
    (
        STREET_NUMBER,
        &["streetno", "housenumber", "houseno", "streetnum"],
    ),
    (
        "city",
        &[
            "town",
            "suburb",
            "locality",
            "municipality",
            "cityname",
            "ville",
            "ciudad",
            "stadt",
            "ort",
            "wohnort",
            "cidade",
            "localidad",
            "woonplaats",
        ],
    ),
    (
        "state",
        &["province", "region", "stateprovince", "statecode"],
    ),
    (
        "postal_code",
        &[
            "postcode",
            "zip",
            "zipcode",
            "postal",
            "zip5",
            "plz",
            "codepostal",
            "codigopostal",
            "cp",
            "postleitzahl",
            "cep",
        ],
    ),
    (
        "country",
        &["countrycode", "nation", "pays", "pais", "land"],
    ),
    (
        "phone",
        &[
            "phonenumber",
            "telephone",
            "tel",
            "mobile",
            "mobilephone",
            "cell",
            "cellphone",
            "homephone",
            "workphone",
            "phone1",
            "phone2",
            "telefono",
            "telefon",
            "telefone",
            "movil",
            "portable",
            "handy",
            "celular",
        ],
    ),
    (
        "email",
        &[
            "emailaddress",
            "mail",
            "courriel",
            "correo",
            "correoelectronico",
        ],
    ),
    (
        "national_id",
        &[
            "ssn",
            "socsecid",
            "socialsecuritynumber",
            "socialsecurity",
            "sin",
            "nin",
            "nationalinsurancenumber",
            "nhsnumber",
        ],
    ),
    (
        "mrn",
        &[
            "medicalrecordnumber",
            "patientnumber",
            "hospitalnumber",
            "chartnumber",
            "mrnumber",
        ],
    ),
    (
        "mrn_system",
        &["mrnauthority", "assigningauthority", "mrnissuer"],
    ),
    (MOTHER_IDENTIFIER, &["mothersidentifier"]),
    (
        FULL_NAME,
        &[
            "name",
            "fullname",
            "patientname",
            "personname",
            "membername",
            "clientname",
            "displayname",
            "completename",
        ],
    ),
    (
        "mother_identifier_system",
        &["mothersidentifiersystem", "motheridentifierauthority"],
    ),
    ("mother_identifier_value", &["mothersidentifiervalue"]),
    (
        BIRTH_YEAR,
        &[
            "yearofbirth",
            "yob",
            "dobyear",
            "byear",
            "birthyyyy",
            "dobyyyy",
        ],
    ),
    (
        BIRTH_MONTH,
        &["monthofbirth", "dobmonth", "bmonth", "birthmm", "dobmm"],
    ),
    (BIRTH_DAY, &["dayofbirth", "dobday", "birthdd", "dobdd"]),
    (
        "mother_maiden_name",
        &[
            "mothersmaidenname",
            "maidennameofmother",
            "mothermaidenname",
            "mothersmaidenfamilyname",
        ],
    ),
];

/// Words exports put in front of a header (`Patient Last Name`, `PAT_FIRST_NM`, `member_dob`,
/// a voter roll's `res_street_address` for the residence), dropped when the header is no synonym
/// as it is.
const HEADER_PREFIXES: [&str; 10] = [
    "patient",
    "person",
    "member",
    "client",
    "pat",
    "mbr",
    "pt",
    "residential",
    "residence",
    "res",
];

/// Abbreviated endings of headers (`FIRST_NM`, `SEX_CD`, `PHONE_NUM`, `SSN_NO`) and what they
/// stand for (nothing: `SEX_CD` is `sex`), tried when the header is no synonym as it is.
const HEADER_SUFFIXES: [(&str, &str); 9] = [
    ("desc", ""),
    ("nm", "name"),
    ("cd", ""),
    ("code", ""),
    ("num", ""),
    ("number", ""),
    ("no", ""),
    ("nbr", ""),
    ("dt", ""),
];

/// The column a header names: its [`header_key`] among [`SYNONYMS`], else the same without a
/// word exports put in front ([`HEADER_PREFIXES`]) and with an abbreviated ending spelt out or
/// dropped ([`HEADER_SUFFIXES`]).
pub fn column_of_header(header: &str) -> Option<&'static str> {
    let synonym = |key: &str| {
        SYNONYMS
            .iter()
            .find(|(column, synonyms)| header_key(column) == key || synonyms.contains(&key))
            .map(|(column, _)| *column)
    };
    let key = header_key(header);
    let bare = HEADER_PREFIXES
        .iter()
        .find_map(|p| key.strip_prefix(p))
        .filter(|rest| !rest.is_empty());
    let forms = std::iter::once(key.as_str()).chain(bare);
    for form in forms.clone() {
        if let Some(column) = synonym(form) {
            return Some(column);
        }
    }
    forms
        .flat_map(|form| {
            HEADER_SUFFIXES.iter().filter_map(move |(end, spelt)| {
                form.strip_suffix(end)
                    .filter(|stem| !stem.is_empty())
                    .map(|stem| format!("{stem}{spelt}"))
            })
        })
        .find_map(|form| synonym(&form))
}

/// A header reduced for matching: lower case, letters and digits only, without a note in
/// brackets (`First Name` and `first_name` are `firstname`, `DOB (MM/DD/YYYY)` is `dob`).
pub fn header_key(header: &str) -> String {
    // Folded as names are (`Prénom` is `prenom`, `Straße` is `strasse`).
    let key = |text: &str| -> String {
        matcher::normalize::fold(text.trim_start_matches('\u{feff}'))
            .chars()
            .filter(|c| c.is_alphanumeric())
            .collect()
    };
    // A note in brackets is no part of the name: `DOB (MM/DD/YYYY)`, `Phone [home]`.
    let mut bare = String::with_capacity(header.len());
    let mut depth = 0usize;
    for c in header.chars() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth = depth.saturating_sub(1),
            _ if depth == 0 => bare.push(c),
            _ => {}
        }
    }
    let bare = key(&bare);
    if bare.is_empty() { key(header) } else { bare }
}

/// How to read a person CSV (see the module documentation).
#[derive(Clone, Debug, Default)]
pub struct ReadOptions {
    /// A bad field costs only that field, with a warning, instead of the row.
    pub lenient: bool,
    /// The delimiter; `None` detects it from the header row.
    pub delimiter: Option<u8>,
    /// Explicit `(column, header)` pairs, ahead of the synonyms.
    pub columns: Vec<(String, String)>,
    /// How the file writes a birth date of three numbers with the year last (`03/05/1972`):
    /// such dates are read in that order and passed on as `YYYY-MM-DD`. `None` infers it from
    /// the first rows (see the module documentation); when they do not tell, such dates are left
    /// as written (an error when strict; a warning when lenient, the matcher reading them day
    /// first unless the first number cannot be a day's month).
    pub date_order: Option<DateOrder>,
    /// A file without an id column names each row by its line number (`2` for the first row
    /// after the header) instead of being refused: the batch commands that only report on a
    /// file (`dedupe --input`, `link`, `train`) when they read leniently, not `mpi import`, which
    /// keeps the ids it stores.
    pub line_ids: bool,
}

/// Rows whose birth dates the reader looks at to infer the file's order of day and month.
pub const DATE_ORDER_SAMPLE: usize = 10_000;

/// The order of day and month in a date written `NN/NN/YYYY` (or with `.` or `-`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DateOrder {
    /// Day first: `DD/MM/YYYY` (Europe, Australia, most of the world).
    Dmy,
    /// Month first: `MM/DD/YYYY` (the United States).
    Mdy,
}

impl DateOrder {
    /// `YYYY-MM-DD` of a date written `A/B/YYYY` (or with `.` or `-`, or a two-digit year as a
    /// spreadsheet writes `3/5/72`: see [`two_digit_year`]) in this order; `None` when the text is
    /// not of that form or is no calendar date in this order.
    pub fn to_iso(self, text: &str) -> Option<String> {
        let sep = text.find(['/', '.', '-'])?;
        let mut parts = text.split(text.as_bytes()[sep] as char);
        let (a, b, year) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let year = birth_year(year)?;
        let (a, b) = (digits(a, 1..=2)?, digits(b, 1..=2)?);
        let (day, month) = match self {
            DateOrder::Dmy => (a, b),
            DateOrder::Mdy => (b, a),
        };
        iso_date(year, month, day)
    }

    /// The only order in which `text` is a calendar date written `A/B/YYYY` (`25/12/1990`: day
    /// first); `None` when it is one in both orders, in neither, or not of that form.
    pub fn only_reading(text: &str) -> Option<DateOrder> {
        match (
            DateOrder::Dmy.to_iso(text).is_some(),
            DateOrder::Mdy.to_iso(text).is_some(),
        ) {
            (true, false) => Some(DateOrder::Dmy),
            (false, true) => Some(DateOrder::Mdy),
            _ => None,
        }
    }

    /// The order a file writes its dates in, from how many of its dates fit only day first
    /// (`dmy`) and only month first (`mdy`): the order most fit, when at most one in fifty fit
    /// the other (a typed digit in the wrong place); `None` when none fits only one order or the
    /// file mixes them.
    pub fn infer(dmy: u64, mdy: u64) -> Option<DateOrder> {
        let (order, most, fewest) = if dmy >= mdy {
            (DateOrder::Dmy, dmy, mdy)
        } else {
            (DateOrder::Mdy, mdy, dmy)
        };
        (most > 0 && fewest.saturating_mul(50) <= most).then_some(order)
    }

    /// How the order writes a date.
    pub fn pattern(self) -> &'static str {
        match self {
            DateOrder::Dmy => "DD/MM/YYYY",
            DateOrder::Mdy => "MM/DD/YYYY",
        }
    }
}

/// A number a spreadsheet or a data frame wrote as a float (`5551234567.0`, `44046.0`,
/// `19850312.0`) without its zero fraction; any other text as it is. Phones, postal codes,
/// identifiers and dates are digits to compare, and the `.0` would add a digit.
fn without_float_zero(text: String) -> String {
    match text.split_once('.') {
        Some((whole, zeros))
            if !whole.is_empty()
                && whole.bytes().all(|b| b.is_ascii_digit())
                && !zeros.is_empty()
                && zeros.bytes().all(|b| b == b'0') =>
        {
            whole.to_owned()
        }
        _ => text,
    }
}

/// A birth date as the matcher and the database read it: without a time of day that an export
/// appended (`1985-03-12 00:00:00`, `3/12/1985 0:00`, `1985-03-12T00:00:00Z`), a month written
/// as a name (`12-Mar-1985`, `12-MAR-85`, `Mar 12, 1985`) or three numbers in the file's order
/// passed on as `YYYY-MM-DD`, anything else as written.
fn birth_date_text(text: &str, order: Option<DateOrder>) -> String {
    let date = without_time(text);
    month_name_date(date)
        .or_else(|| year_first_date(date))
        .or_else(|| order.and_then(|o| o.to_iso(date)))
        .unwrap_or_else(|| date.to_owned())
}

/// `YYYY-MM-DD` of a date written year first with `/`, `.` or `-` and one or two digits for the
/// month and the day (`1984/07/02`, `1984.7.2`, `1984-7-2`), as East Asian systems and some
/// database exports write it; `None` for anything else or no calendar date.
fn year_first_date(text: &str) -> Option<String> {
    let separator = *text.as_bytes().get(4)?;
    if !matches!(separator, b'/' | b'.' | b'-') {
        return None;
    }
    let mut parts = text.split(char::from(separator));
    let (year, month, day) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    iso_date(
        digits(year, 4..=4)?,
        digits(month, 1..=2)?,
        digits(day, 1..=2)?,
    )
}

/// A birth date from its parts in columns of their own (year, month, day; a month as a number or
/// a name): `YYYY`, `YYYY-MM` or `YYYY-MM-DD` as far as the parts go from the year, each number
/// padded to its width; the parts as written, joined by `-`, when they are not numbers (the
/// date's own checks then report it); `None` without a year.
fn birth_date_of_parts(parts: &[Option<String>; 3]) -> Option<String> {
    let [year, month, day] = parts;
    let year = year.as_deref()?;
    let month = month.as_deref().map(|m| {
        month_name_date(&format!("1 {m} 2000"))
            .map_or_else(|| m.to_owned(), |iso| iso[5..7].to_owned())
    });
    let pad = |v: &str| match digits(v, 1..=1) {
        Some(n) => format!("{n:02}"),
        None => v.to_owned(),
    };
    Some(match (month, day.as_deref()) {
        (Some(m), Some(d)) => format!("{year}-{}-{}", pad(&m), pad(d)),
        (Some(m), None) => format!("{year}-{}", pad(&m)),
        (None, _) => year.to_owned(),
    })
}

/// The date a spreadsheet's day number counts to, for a birth date cell exported without its
/// date format: days since 1899-12-30, as Excel and LibreOffice count (`30865` is 1984-07-02).
/// Only five digits, up to today's number, are taken for one: four digits are a year.
fn spreadsheet_day(text: &str) -> Option<String> {
    let days = digits(text, 5..=5)?;
    let date = chrono::NaiveDate::from_ymd_opt(1899, 12, 30)?
        .checked_add_days(chrono::Days::new(u64::from(days)))?;
    (date <= chrono::Utc::now().date_naive()).then(|| date.format("%Y-%m-%d").to_string())
}

/// Why a number a spreadsheet wrote in scientific notation is not kept.
const SCIENTIFIC: &str =
    "in scientific notation, as a spreadsheet writes a long number, its last digits lost";

/// True for a number a spreadsheet wrote in scientific notation (`1.23457E+08`, `5,55123E+09`,
/// `1E+09`): its last digits are lost, so two different numbers can read the same.
fn scientific_notation(text: &str) -> bool {
    let Some((mantissa, exponent)) = text.split_once(['E', 'e']) else {
        return false;
    };
    let (whole, fraction) = mantissa.split_once(['.', ',']).unwrap_or((mantissa, "0"));
    digits(whole, 1..=1).is_some()
        && !fraction.is_empty()
        && fraction.bytes().all(|b| b.is_ascii_digit())
        && exponent
            .strip_prefix('+')
            .is_some_and(|e| digits(e, 1..=3).is_some())
}

/// `text` without a time of day after its date: the part before the first space or `T` that is
/// followed by a digit and, further on, a colon.
fn without_time(text: &str) -> &str {
    text.char_indices()
        .filter(|&(i, c)| i >= 6 && (c == ' ' || c == 'T'))
        .find(|&(i, _)| {
            let rest = text[i + 1..].trim_start();
            rest.starts_with(|c: char| c.is_ascii_digit()) && rest.contains(':')
        })
        .map_or(text, |(i, _)| text[..i].trim_end())
}

/// `YYYY-MM-DD` of a date whose month is an English name or its first three letters, between
/// or before the day and the year: `12-Mar-1985`, `12 MAR 85` (an Oracle export's `DD-MON-RR`),
/// `Mar 12, 1985`, `12 March 1985`, also after a weekday (`Tuesday, March 12, 1985`, `Tue 12 Mar
/// 1985`, as a long date format writes it: the weekday is dropped, the date says the same);
/// `None` for anything else or no calendar date.
fn month_name_date(text: &str) -> Option<String> {
    const WEEKDAYS: [&str; 7] = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    const MONTHS: [&str; 12] = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    if !text.starts_with(|c: char| c.is_ascii_alphanumeric()) || !text.contains(char::is_alphabetic)
    {
        return None;
    }
    let parts: Vec<&str> = text
        .split([' ', '-', '/', '.', ','])
        .filter(|p| !p.is_empty())
        .collect();
    let weekday = |word: &str| {
        let word = word.to_ascii_lowercase();
        word.len() >= 3 && WEEKDAYS.iter().any(|d| d.starts_with(&word))
    };
    let date = match parts.as_slice() {
        [first, rest @ ..] if rest.len() == 3 && weekday(first) => rest,
        all => all,
    };
    let [a, b, c] = date else {
        return None;
    };
    let month_of = |word: &str| {
        let word = word.to_ascii_lowercase();
        MONTHS
            .iter()
            .position(|m| {
                word.len() >= 3 && (m.starts_with(&word) || (word == "sept" && *m == "september"))
            })
            .map(|i| i as u32 + 1)
    };
    let (month, day, year) = match (month_of(a), month_of(b)) {
        (Some(m), None) => (m, *b, *c),
        (None, Some(m)) => (m, *a, *c),
        _ => return None,
    };
    iso_date(birth_year(year)?, month, digits(day, 1..=2)?)
}

/// The number `text` writes with a count of digits in `len`, and nothing else.
fn digits(text: &str, len: std::ops::RangeInclusive<usize>) -> Option<u32> {
    (len.contains(&text.len()) && text.bytes().all(|c| c.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

/// A birth year written with four digits, or with two ([`two_digit_year`]).
fn birth_year(text: &str) -> Option<u32> {
    match text.len() {
        2 => digits(text, 2..=2).map(two_digit_year),
        _ => digits(text, 4..=4),
    }
}

/// `YYYY-MM-DD` of a calendar date; `None` when there is no such date.
fn iso_date(year: u32, month: u32, day: u32) -> Option<String> {
    chrono::NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)?;
    Some(format!("{year:04}-{month:02}-{day:02}"))
}

/// The year of a birth date written with two digits: this century's when that is not after this
/// year, else the last century's (`72` is 1972, `05` 2005). Birth dates lie in the past, so
/// only a person over 100 is put a century too late.
fn two_digit_year(yy: u32) -> u32 {
    use chrono::Datelike;
    let this_year = u32::try_from(chrono::Utc::now().year()).unwrap_or(2000);
    let year = this_year / 100 * 100 + yy;
    if year > this_year { year - 100 } else { year }
}

/// The order of day and month a reader found in its file's first rows
/// ([`PersonCsvReader::date_order`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InferredDateOrder {
    /// The order inferred; `None` when the dates looked at did not tell (see [`DateOrder::infer`]).
    pub order: Option<DateOrder>,
    /// Birth dates looked at that fit only day first.
    pub day_first: u64,
    /// Birth dates looked at that fit only month first.
    pub month_first: u64,
}

impl ReadOptions {
    /// Parses `--columns given_name=FirstName,family_name=LAST` (or the lines of a mapping file,
    /// `#` starting a comment) into [`ReadOptions::columns`].
    pub fn parse_columns(text: &str) -> Result<Vec<(String, String)>, String> {
        let mut out = Vec::new();
        for item in text
            .lines()
            .map(|l| l.split('#').next().unwrap_or(""))
            .flat_map(|l| l.split(','))
            .map(str::trim)
            .filter(|i| !i.is_empty())
        {
            let Some((column, header)) = item.split_once('=') else {
                return Err(format!("{item}: expected COLUMN=HEADER"));
            };
            let column = column.trim();
            if !READ_ONLY.contains(&column) && !COLUMNS.contains(&column) {
                return Err(format!(
                    "{column}: no such column (columns: {}, {})",
                    COLUMNS.join(", "),
                    READ_ONLY.join(", ")
                ));
            }
            out.push((column.to_owned(), header.trim().to_owned()));
        }
        Ok(out)
    }

    /// Parses `--delimiter`: one character, or `tab`.
    pub fn parse_delimiter(text: &str) -> Result<u8, String> {
        match text {
            "tab" | "\\t" | "\t" => Ok(b'\t'),
            t if t.len() == 1 && t.is_ascii() && t != "\"" => Ok(t.as_bytes()[0]),
            _ => Err("expected one ASCII character (`,`, `;`, `|`) or `tab`".to_owned()),
        }
    }
}

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
    /// The rest of the file cannot be read, its content at fault (a FHIR Bundle that stops being
    /// JSON, as the batch commands read one): the message names file, line and column.
    #[error("{0}")]
    Unreadable(String),
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
    /// Fields dropped, repaired or kept as typed (lenient reading only).
    pub warnings: Vec<RowError>,
}

/// Column positions of the known fields (index into the row) for one header; several only for
/// phones and e-mails.
#[derive(Clone, Debug, Default)]
struct Layout {
    known: [Vec<usize>; COLUMNS.len()],
    street_number: Option<usize>,
    /// The `mother_identifier` column (`SYSTEM|VALUE`).
    mother_identifier: Option<usize>,
    /// The `full_name` column.
    full_name: Option<usize>,
    extra: Vec<usize>,
    /// Header text of each position.
    headers: Vec<String>,
    lenient: bool,
    date_order: Option<DateOrder>,
    /// No id column: each row is named by its line number ([`ReadOptions::line_ids`]).
    line_ids: bool,
    /// The `birth_year`, `birth_month` and `birth_day` columns.
    birth_parts: [Option<usize>; 3],
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
const MOTHER_SYSTEM: usize = col("mother_identifier_system");
const MOTHER_VALUE: usize = col("mother_identifier_value");
const MOTHER_MAIDEN_NAME: usize = col("mother_maiden_name");

/// A streaming person CSV reader (see the module documentation).
pub struct PersonCsvReader<R: Read> {
    path: PathBuf,
    reader: csv::Reader<io::BufReader<StripCr<Decoded<R>>>>,
    layout: Layout,
    buffer: csv::ByteRecord,
    delimiter: u8,
    done: bool,
    /// Rows read ahead to infer the order of day and month, served before the rest.
    read_ahead: std::collections::VecDeque<Result<csv::ByteRecord, csv::Error>>,
    /// What the rows read ahead said about the order of day and month, when it was inferred.
    inferred: Option<InferredDateOrder>,
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
        Self::open_with(path, extra, &ReadOptions::default())
    }

    /// [`PersonCsvReader::open`] with options.
    pub fn open_with(
        path: impl AsRef<Path>,
        extra: &[&str],
        options: &ReadOptions,
    ) -> Result<Self, PersonCsvError> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|source| PersonCsvError::Open {
            path: path.to_owned(),
            source,
        })?;
        Self::with_options(file, path, extra, options)
    }
}

/// A file as [`decoded`] reads it: UTF-16 transcoded to UTF-8, anything else as it is.
pub enum Decoded<R: Read> {
    /// Bytes passed through as they are.
    Plain(io::BufReader<R>),
    /// UTF-16 transcoded to UTF-8 (encoding_rs_io over encoding_rs).
    Utf16(encoding_rs_io::DecodeReaderBytes<io::BufReader<R>, Vec<u8>>),
}

impl<R: Read> Read for Decoded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Decoded::Plain(r) => r.read(buf),
            Decoded::Utf16(r) => {
                // The transcoder may hand out a few bytes at a time; callers that look at the
                // first read (the delimiter's detection) want a whole header row.
                let want = buf.len().min(1 << 12);
                let mut filled = 0;
                while filled < want {
                    match r.read(&mut buf[filled..])? {
                        0 => break,
                        n => filled += n,
                    }
                }
                Ok(filled)
            }
        }
    }
}

/// `input` as UTF-8 bytes. A file written in UTF-16 (Excel's "Unicode Text", SQL Server and
/// Windows PowerShell exports) is transcoded as it streams, without its byte-order mark: one that
/// starts with that mark, or, without one, whose first two characters are each a byte and a zero
/// byte. Anything else passes through byte for byte, invalid UTF-8 included, for the reader's own
/// Windows-1252 reading of such fields.
pub fn decoded<R: Read>(input: R) -> io::Result<Decoded<R>> {
    let mut input = io::BufReader::with_capacity(1 << 16, input);
    let (encoding, mark) = match input.fill_buf()? {
        [0xFF, 0xFE, ..] => (encoding_rs::UTF_16LE, 2),
        [0xFE, 0xFF, ..] => (encoding_rs::UTF_16BE, 2),
        [a, 0, b, 0, ..] if *a != 0 && *b != 0 => (encoding_rs::UTF_16LE, 0),
        [0, a, 0, b, ..] if *a != 0 && *b != 0 => (encoding_rs::UTF_16BE, 0),
        _ => return Ok(Decoded::Plain(input)),
    };
    input.consume(mark);
    Ok(Decoded::Utf16(
        encoding_rs_io::DecodeReaderBytesBuilder::new()
            .encoding(Some(encoding))
            .build(input),
    ))
}

/// The delimiter the header row holds most of outside quotes (`,` when none).
pub fn detect_delimiter(head: &[u8]) -> u8 {
    let line = head.split(|&b| b == b'\n').next().unwrap_or(head);
    let mut counts = [0usize; 4];
    let candidates = [b',', b';', b'\t', b'|'];
    let mut quoted = false;
    for &b in line {
        if b == b'"' {
            quoted = !quoted;
        } else if !quoted && let Some(i) = candidates.iter().position(|&c| c == b) {
            counts[i] += 1;
        }
    }
    let mut best = 0;
    for i in 1..4 {
        if counts[i] > counts[best] {
            best = i;
        }
    }
    candidates[best]
}

impl<R: Read> PersonCsvReader<R> {
    /// Reads a person CSV from `input`; `name` is used in error messages (a path or `<stdin>`).
    pub fn new(input: R, name: impl AsRef<Path>, extra: &[&str]) -> Result<Self, PersonCsvError> {
        Self::with_options(input, name, extra, &ReadOptions::default())
    }

    /// [`PersonCsvReader::new`] with options.
    pub fn with_options(
        input: R,
        name: impl AsRef<Path>,
        extra: &[&str],
        options: &ReadOptions,
    ) -> Result<Self, PersonCsvError> {
        let path = name.as_ref().to_owned();
        let header_error = |reason: String| PersonCsvError::Header {
            path: path.clone(),
            reason,
        };
        let input = decoded(input).map_err(|e| PersonCsvError::Io {
            path: path.clone(),
            reason: format!("cannot read: {e}"),
        })?;
        let mut input = io::BufReader::with_capacity(1 << 16, StripCr(input));
        let delimiter = match options.delimiter {
            Some(d) => d,
            None => detect_delimiter(input.fill_buf().map_err(|e| PersonCsvError::Io {
                path: path.clone(),
                reason: format!("cannot read: {e}"),
            })?),
        };
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(false)
            .delimiter(delimiter)
            .trim(csv::Trim::All)
            .from_reader(input);
        let headers = match reader.byte_headers() {
            Ok(h) => h.clone(),
            Err(e) => return Err(header_error(csv_reason(&e))),
        };
        let headers: Vec<String> = headers
            .iter()
            .map(|h| {
                String::from_utf8_lossy(h)
                    .trim_start_matches('\u{feff}')
                    .trim()
                    .to_owned()
            })
            .collect();
        if headers.is_empty() || headers.iter().all(String::is_empty) {
            return Err(header_error(
                "the file is empty or has no header row".into(),
            ));
        }
        let mut layout = Layout {
            headers: headers.clone(),
            lenient: options.lenient,
            date_order: options.date_order,
            ..Layout::default()
        };
        // Each header position: the column it was taken for.
        let mut taken: Vec<Option<String>> = vec![None; headers.len()];
        for (column, header) in &options.columns {
            let found: Vec<usize> = headers
                .iter()
                .enumerate()
                .filter(|(_, h)| h.eq_ignore_ascii_case(header))
                .map(|(i, _)| i)
                .collect();
            match found.as_slice() {
                [one] => taken[*one] = Some(column.clone()),
                [] => {
                    return Err(header_error(format!(
                        "--columns maps {column} to a header the file does not have"
                    )));
                }
                _ => {
                    return Err(header_error(format!(
                        "--columns maps {column} to a header that appears twice"
                    )));
                }
            }
        }
        let explicit: Vec<&str> = options.columns.iter().map(|(c, _)| c.as_str()).collect();
        for (position, header) in headers.iter().enumerate() {
            if taken[position].is_some() || extra.contains(&header.as_str()) {
                continue;
            }
            if let Some(column) = column_of_header(header).filter(|c| !explicit.contains(c)) {
                taken[position] = Some(column.to_owned());
            }
        }
        for (position, column) in taken.iter().enumerate() {
            let Some(column) = column else { continue };
            let read_only = match column.as_str() {
                STREET_NUMBER => Some(&mut layout.street_number),
                MOTHER_IDENTIFIER => Some(&mut layout.mother_identifier),
                FULL_NAME => Some(&mut layout.full_name),
                BIRTH_YEAR => Some(&mut layout.birth_parts[0]),
                BIRTH_MONTH => Some(&mut layout.birth_parts[1]),
                BIRTH_DAY => Some(&mut layout.birth_parts[2]),
                _ => None,
            };
            if let Some(slot) = read_only {
                if let Some(other) = *slot {
                    return Err(header_error(format!(
                        "columns {} and {} both mean {column}; choose one with --columns",
                        headers[other], headers[position]
                    )));
                }
                *slot = Some(position);
                continue;
            }
            let Some(k) = COLUMNS.iter().position(|c| c == column) else {
                continue;
            };
            let multi = k == PHONE || k == EMAIL;
            if let Some(&other) = layout.known[k].first()
                && !multi
            {
                return Err(header_error(if headers[other] == headers[position] {
                    format!("column {} appears twice", headers[position])
                } else {
                    format!(
                        "columns {} and {} both mean {column}; choose one with --columns",
                        headers[other], headers[position]
                    )
                }));
            }
            layout.known[k].push(position);
        }
        if layout.known[ID].is_empty() && options.line_ids {
            layout.line_ids = true;
        } else if layout.known[ID].is_empty() {
            return Err(header_error(format!(
                "no id column (columns: {}; or name it with --columns id=HEADER)",
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
        let mut this = Self {
            path,
            reader,
            layout,
            buffer: csv::ByteRecord::new(),
            delimiter,
            done: false,
            read_ahead: std::collections::VecDeque::new(),
            inferred: None,
        };
        if this.layout.date_order.is_none()
            && let Some(&position) = this.layout.known[BIRTH_DATE].first()
        {
            this.infer_date_order(position);
        }
        Ok(this)
    }

    /// Reads up to [`DATE_ORDER_SAMPLE`] rows ahead (kept for [`Self::next_row`]) and takes the
    /// order of day and month their birth dates (at `position`) fit (see [`DateOrder::infer`]).
    fn infer_date_order(&mut self, position: usize) {
        let (mut day_first, mut month_first) = (0u64, 0u64);
        while self.read_ahead.len() < DATE_ORDER_SAMPLE {
            let mut row = csv::ByteRecord::new();
            match self.reader.read_byte_record(&mut row) {
                Ok(false) => break,
                Ok(true) => {
                    let text = row
                        .get(position)
                        .and_then(|field| std::str::from_utf8(field).ok())
                        .map(str::trim);
                    match text.map(without_time).and_then(DateOrder::only_reading) {
                        Some(DateOrder::Dmy) => day_first += 1,
                        Some(DateOrder::Mdy) => month_first += 1,
                        None => {}
                    }
                    self.read_ahead.push_back(Ok(row));
                }
                Err(e) => {
                    // A row of the wrong length is that row's error; anything else ends the
                    // reading there, as it would have without the read-ahead.
                    let row_error = matches!(e.kind(), csv::ErrorKind::UnequalLengths { .. });
                    self.read_ahead.push_back(Err(e));
                    if !row_error {
                        break;
                    }
                }
            }
        }
        let order = DateOrder::infer(day_first, month_first);
        self.layout.date_order = order;
        self.inferred = Some(InferredDateOrder {
            order,
            day_first,
            month_first,
        });
    }

    /// The order of day and month inferred from the first rows; `None` when it was given
    /// ([`ReadOptions::date_order`]) or the file has no birth-date column.
    pub fn date_order(&self) -> Option<InferredDateOrder> {
        self.inferred
    }

    /// True when the file has no id column and its rows are named by their line numbers
    /// ([`ReadOptions::line_ids`]).
    pub fn ids_are_line_numbers(&self) -> bool {
        self.layout.line_ids
    }

    /// The columns understood, in file order: `(column, header as written)`.
    pub fn mapping(&self) -> Vec<(&str, &str)> {
        let l = &self.layout;
        let mut out: Vec<(usize, &str)> = COLUMNS
            .iter()
            .enumerate()
            .flat_map(|(k, c)| l.known[k].iter().map(move |&p| (p, *c)))
            .collect();
        out.extend(l.street_number.map(|p| (p, STREET_NUMBER)));
        out.extend(l.mother_identifier.map(|p| (p, MOTHER_IDENTIFIER)));
        out.extend(l.full_name.map(|p| (p, FULL_NAME)));
        for (part, name) in l
            .birth_parts
            .iter()
            .zip([BIRTH_YEAR, BIRTH_MONTH, BIRTH_DAY])
        {
            out.extend(part.map(|p| (p, name)));
        }
        out.sort_unstable();
        out.into_iter()
            .map(|(p, c)| (c, l.headers[p].as_str()))
            .collect()
    }

    /// The headers ignored (neither a known column nor an extra column asked for).
    pub fn ignored(&self) -> Vec<&str> {
        let l = &self.layout;
        let used: Vec<usize> = l
            .known
            .iter()
            .flatten()
            .copied()
            .chain(l.street_number)
            .chain(l.mother_identifier)
            .chain(l.full_name)
            .chain(l.birth_parts.iter().flatten().copied())
            .chain(l.extra.iter().copied())
            .collect();
        l.headers
            .iter()
            .enumerate()
            .filter(|(p, _)| !used.contains(p))
            .map(|(_, h)| h.as_str())
            .collect()
    }

    /// The delimiter in use.
    pub fn delimiter(&self) -> u8 {
        self.delimiter
    }

    /// The name errors use (the path, or what was given to [`PersonCsvReader::new`]).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the next row; `None` at the end of the input or after a fatal error.
    fn next_row(&mut self) -> Option<Result<PersonRow, PersonCsvError>> {
        let read = match self.read_ahead.pop_front() {
            Some(Ok(row)) => {
                self.buffer = row;
                Ok(true)
            }
            Some(Err(e)) => Err(e),
            None if self.done => return None,
            None => self.reader.read_byte_record(&mut self.buffer),
        };
        match read {
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
                    (csv::ErrorKind::UnequalLengths { .. }, Some(line)) => {
                        Some(Err(PersonCsvError::Row(
                            RowError {
                                line,
                                column: String::new(),
                                reason: csv_reason(&e),
                            },
                            self.path.clone(),
                        )))
                    }
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

/// Values that exports write for an empty field.
const EMPTY_MARKERS: [&str; 5] = ["null", "n/a", "#n/a", "-", "?"];

fn parse_row(row: &csv::ByteRecord, layout: &Layout, line: u64) -> Result<PersonRow, RowError> {
    let lenient = layout.lenient;
    let fail = |column: &str, reason: &str| RowError {
        line,
        column: column.to_owned(),
        reason: reason.to_owned(),
    };
    let mut warnings: Vec<RowError> = Vec::new();
    // The text of the field at `position`, checked: UTF-8, length, control characters.
    let mut text_at = |position: usize, column: &str| -> Result<Option<String>, RowError> {
        let Some(bytes) = row.get(position).filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        if bytes.len() > MAX_FIELD {
            if !lenient {
                return Err(fail(column, &format!("longer than {MAX_FIELD} bytes")));
            }
            warnings.push(fail(
                column,
                &format!("longer than {MAX_FIELD} bytes (treated as missing)"),
            ));
            return Ok(None);
        }
        let mut text = match std::str::from_utf8(bytes) {
            Ok(t) => t.to_owned(),
            Err(_) => {
                if !lenient {
                    return Err(fail(column, "not valid UTF-8"));
                }
                // Text that is not UTF-8 is nearly always a Western export's own code page
                // (`Müller` written as one byte per letter): read it so, every byte a character.
                warnings.push(fail(column, "not valid UTF-8 (read as Windows-1252)"));
                encoding_rs::WINDOWS_1252
                    .decode_without_bom_handling(bytes)
                    .0
                    .into_owned()
            }
        };
        if lenient {
            if text.chars().any(char::is_control) {
                // A line break or tab (a quoted newline) separates words; others are noise.
                text = text
                    .chars()
                    .filter(|c| !c.is_control() || c.is_whitespace())
                    .collect::<String>()
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ");
                warnings.push(fail(column, "control characters removed"));
            }
            if EMPTY_MARKERS.iter().any(|m| text.eq_ignore_ascii_case(m)) {
                return Ok(None);
            }
        }
        Ok(Some(text).filter(|t| !t.is_empty()))
    };
    let mut field = |k: usize| -> Result<Option<String>, RowError> {
        match layout.known[k].first() {
            Some(&p) => text_at(p, COLUMNS[k]),
            None => Ok(None),
        }
    };
    let id = if layout.line_ids {
        line.to_string()
    } else {
        field(ID)?.ok_or_else(|| fail("id", "missing id"))?
    };
    let sex_text = field(SEX)?;
    let date_field = field(BIRTH_DATE)?;
    let given = field(GIVEN)?;
    let middle = field(MIDDLE)?;
    let family = field(FAMILY)?;
    let line1 = field(LINE1)?;
    let line2 = field(LINE2)?;
    let city = field(CITY)?;
    let state = field(STATE)?;
    let postal = field(POSTAL)?.map(without_float_zero);
    let country = field(COUNTRY)?;
    let national_id = field(NATIONAL_ID)?.map(without_float_zero);
    let mrn = field(MRN)?.map(without_float_zero);
    let mrn_system = field(MRN_SYSTEM)?;
    let mother_system = field(MOTHER_SYSTEM)?;
    let mother_value = field(MOTHER_VALUE)?.map(without_float_zero);
    let mother_maiden_name = field(MOTHER_MAIDEN_NAME)?;
    let mut phones = Vec::new();
    for &p in &layout.known[PHONE] {
        phones.extend(text_at(p, COLUMNS[PHONE])?.map(without_float_zero));
    }
    let mut emails = Vec::new();
    for &p in &layout.known[EMAIL] {
        emails.extend(text_at(p, COLUMNS[EMAIL])?);
    }
    let street_number = match layout.street_number {
        Some(p) => text_at(p, STREET_NUMBER)?,
        None => None,
    };
    let mother_identifier = match layout.mother_identifier {
        Some(p) => text_at(p, MOTHER_IDENTIFIER)?,
        None => None,
    };
    let (given, middle, family) = match (layout.full_name, &given, &middle, &family) {
        (Some(p), None, None, None) => match text_at(p, FULL_NAME)? {
            Some(whole) => split_full_name(&whole),
            None => (None, None, None),
        },
        _ => (given, middle, family),
    };
    let date_text = match date_field {
        Some(date) => Some(date),
        None if layout.birth_parts.iter().any(Option::is_some) => {
            let mut parts: [Option<String>; 3] = [None, None, None];
            for (part, column) in parts
                .iter_mut()
                .zip(layout.birth_parts)
                .zip([BIRTH_YEAR, BIRTH_MONTH, BIRTH_DAY])
                .filter_map(|((part, p), name)| p.map(|p| (part, (p, name))))
            {
                *part = text_at(column.0, column.1)?.map(without_float_zero);
            }
            birth_date_of_parts(&parts)
        }
        None => None,
    }
    .map(without_float_zero)
    .map(|v| birth_date_text(&v, layout.date_order));
    // A number a spreadsheet wrote in scientific notation compares as another number would.
    let mut lost = |column: &str, value: Option<String>| match value {
        Some(v) if scientific_notation(&v) => {
            if !lenient {
                return Err(fail(column, SCIENTIFIC));
            }
            warnings.push(fail(column, &format!("{SCIENTIFIC} (treated as missing)")));
            Ok(None)
        }
        v => Ok(v),
    };
    let postal = lost("postal_code", postal)?;
    let national_id = lost("national_id", national_id)?;
    let mrn = lost("mrn", mrn)?;
    let mother_value = lost("mother_identifier_value", mother_value)?;
    let mut phones_kept = Vec::with_capacity(phones.len());
    for phone in phones {
        phones_kept.extend(lost("phone", Some(phone))?);
    }
    let mut phones = phones_kept;

    let mut warn = |column: &str, reason: &str| warnings.push(fail(column, reason));

    let sex = match sex_text.as_deref().map(|v| (v, parse_sex(v))) {
        None => None,
        Some((_, Some(sex))) => Some(sex),
        Some((_, None)) if lenient => {
            warn("sex", "invalid sex (treated as missing)");
            None
        }
        Some((_, None)) => {
            return Err(fail(
                "sex",
                "invalid sex (expected male, female, other, unknown, M or F)",
            ));
        }
    };
    let birth_date = match date_text {
        None => None,
        Some(v) if valid_date(&v) => Some(v),
        Some(_) if !lenient => {
            return Err(fail(
                "birth_date",
                "invalid date (expected YYYY-MM-DD or YYYYMMDD)",
            ));
        }
        Some(v) if spreadsheet_day(&v).is_some() => {
            warn(
                "birth_date",
                "a spreadsheet's day number (read as the date it counts to)",
            );
            spreadsheet_day(&v)
        }
        Some(v) => match matcher::normalize::parse_birth_date_kept(&v) {
            Some(d) if d.is_mistyped() => {
                warn(
                    "birth_date",
                    "no such date (kept for a digit-by-digit comparison)",
                );
                Some(v)
            }
            Some(d) if d.precision() != matcher::DatePrecision::Day => {
                warn(
                    "birth_date",
                    "partial date (compared at the precision it has)",
                );
                Some(v)
            }
            Some(_) => {
                warn(
                    "birth_date",
                    "not YYYY-MM-DD or YYYYMMDD (read day first, as DD/MM/YYYY, unless the first number cannot be a day's month; --date-order mdy or dmy says how the file writes it)",
                );
                Some(v)
            }
            None => {
                warn("birth_date", "invalid date (treated as missing)");
                None
            }
        },
    };
    let has_alphanumeric = |v: &str| v.chars().any(char::is_alphanumeric);
    let mut checked = |column: &str, value: Option<String>, ok: bool, reason: &str| {
        if value.is_some() && lenient && !ok {
            warnings.push(fail(column, reason));
            return None;
        }
        value
    };
    let postal_ok = postal.as_deref().is_some_and(has_alphanumeric);
    let postal = checked(
        "postal_code",
        postal,
        postal_ok,
        "no letter or digit (treated as missing)",
    );
    let national_ok = national_id.as_deref().is_some_and(has_alphanumeric);
    let national_id = checked(
        "national_id",
        national_id,
        national_ok,
        "no letter or digit (treated as missing)",
    );
    let mrn_ok = mrn.as_deref().is_some_and(has_alphanumeric);
    let mrn = checked(
        "mrn",
        mrn,
        mrn_ok,
        "no letter or digit (treated as missing)",
    );
    if lenient {
        phones.retain(|p| {
            let ok = p.chars().filter(char::is_ascii_digit).count() >= 5;
            if !ok {
                warnings.push(fail("phone", "fewer than 5 digits (treated as missing)"));
            }
            ok
        });
        emails.retain(|e| {
            let ok = e.contains('@');
            if !ok {
                warnings.push(fail("email", "no @ (treated as missing)"));
            }
            ok
        });
        if given.is_none() && middle.is_none() && family.is_none() {
            warnings.push(fail("", "no name (kept)"));
        }
    }
    let given_names: Vec<String> = [given, middle].into_iter().flatten().collect();
    let family_names: Vec<String> = family.into_iter().collect();
    let line1 = match (street_number, line1) {
        (Some(n), Some(l)) => Some(format!("{n} {l}")),
        (n, l) => n.or(l),
    };
    let lines: Vec<String> = [line1, line2].into_iter().flatten().collect();
    let address = Address {
        lines,
        city,
        state,
        postal_code: postal,
        country,
    };
    let addresses = if address == Address::default() {
        Vec::new()
    } else {
        vec![address]
    };
    let mut identifiers = Vec::new();
    if let Some(value) = national_id {
        identifiers.push(Identifier {
            system: NATIONAL_ID_SYSTEM.to_owned(),
            value,
        });
    }
    match (mrn, mrn_system) {
        (Some(value), system) => identifiers.push(Identifier {
            system: system.unwrap_or_default(),
            value,
        }),
        (None, Some(_)) if lenient => warnings.push(fail(
            "mrn_system",
            "mrn_system given without an mrn (ignored)",
        )),
        (None, Some(_)) => return Err(fail("mrn_system", "mrn_system given without an mrn")),
        (None, None) => {}
    }
    let mother_identifier = mother_identifier_of(
        mother_identifier,
        mother_system,
        mother_value,
        lenient,
        &mut |column: &str, reason: &str| warnings.push(fail(column, reason)),
    )
    .map_err(|(column, reason)| fail(column, reason))?;
    let extra = layout
        .extra
        .iter()
        .map(|&i| {
            row.get(i)
                .filter(|v| !v.is_empty())
                .map(|v| String::from_utf8_lossy(v).into_owned())
        })
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
            phones,
            emails,
            identifiers,
            maternity: matcher::Maternity {
                mother_maiden_name,
                mother_identifier,
                birth_order: None,
            },
        },
        extra,
        warnings,
    })
}

/// Given, middle and family name of a whole name written in one field: `Family, Given Middle`
/// (a comma puts the family name first), `FAMILY^GIVEN^MIDDLE` (HL7's order), or
/// `Given Middle Family` (the last word the family name, with the particles before it and a
/// generational suffix kept on it: `Maria de la Cruz` is family `de la Cruz`, `John Smith Jr`
/// is family `Smith Jr`). One word alone is a family name (a mononym).
fn split_full_name(whole: &str) -> (Option<String>, Option<String>, Option<String>) {
    let some = |s: &str| {
        let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
        (!s.is_empty()).then_some(s)
    };
    if whole.contains('^') {
        let mut parts = whole.split('^');
        let family = parts.next().and_then(some);
        let given = parts.next().and_then(some);
        let middle = parts.next().and_then(some);
        return (given, middle, family);
    }
    if let Some((family, rest)) = whole.split_once(',') {
        let mut words = rest.split_whitespace();
        let given = words.next().map(str::to_owned);
        return (
            given,
            some(&words.collect::<Vec<_>>().join(" ")),
            some(family),
        );
    }
    let words: Vec<&str> = whole.split_whitespace().collect();
    let suffix = |w: &str| {
        matches!(
            w.trim_end_matches('.').to_ascii_lowercase().as_str(),
            "jr" | "sr" | "ii" | "iii" | "iv"
        )
    };
    let mut family_words = match words.as_slice() {
        [.., before, last] if words.len() > 2 && suffix(last) && !suffix(before) => 2,
        _ => 1,
    };
    // Particles before the family name belong to it (`Maria de la Cruz`, `Ana da Silva`), as
    // long as a given name remains (`Van Morrison` is given name Van).
    while words.len() > family_words + 1
        && matcher::normalize::is_particle(&matcher::normalize::fold(
            words[words.len() - family_words - 1],
        ))
    {
        family_words += 1;
    }
    if words.len() <= family_words {
        return (None, None, some(whole));
    }
    let (names, family) = words.split_at(words.len() - family_words);
    (
        names.first().map(|w| (*w).to_owned()),
        some(&names[1..].join(" ")),
        some(&family.join(" ")),
    )
}

/// The mother's identifier of a row, from `mother_identifier` (`SYSTEM|VALUE`, or a value alone)
/// or `mother_identifier_system` and `mother_identifier_value` (an empty system when absent).
/// A fault is `Err((column, reason))`, or when reading leniently a warning (through `warn`) and
/// no identifier. Reasons never quote the value.
fn mother_identifier_of(
    combined: Option<String>,
    system: Option<String>,
    value: Option<String>,
    lenient: bool,
    warn: &mut dyn FnMut(&str, &str),
) -> Result<Option<Identifier>, (&'static str, &'static str)> {
    let mut fault = |column: &'static str, reason: &'static str| {
        if lenient {
            warn(column, &format!("{reason} (ignored)"));
            Ok(None)
        } else {
            Err((column, reason))
        }
    };
    let (column, system, value) = match (combined, system, value) {
        (None, None, None) => return Ok(None),
        (Some(text), None, None) => match text.split_once('|') {
            Some((system, value)) => (
                MOTHER_IDENTIFIER,
                system.trim().to_owned(),
                value.trim().to_owned(),
            ),
            None => (MOTHER_IDENTIFIER, String::new(), text),
        },
        (None, system, Some(value)) => {
            ("mother_identifier_value", system.unwrap_or_default(), value)
        }
        (None, Some(_), None) => {
            return fault(
                "mother_identifier_system",
                "mother_identifier_system given without a mother_identifier_value",
            );
        }
        (Some(_), ..) => {
            return fault(
                MOTHER_IDENTIFIER,
                "give mother_identifier or mother_identifier_system and mother_identifier_value, not both",
            );
        }
    };
    if value.is_empty() {
        return fault(column, "the mother's identifier has no value");
    }
    if lenient && !value.chars().any(char::is_alphanumeric) {
        return fault(column, "no letter or digit");
    }
    Ok(Some(Identifier { system, value }))
}

/// `male`, `female`, `other`, `unknown`, `M`, `F`, any case, or the codes of ISO/IEC 5218 (`1`
/// male, `2` female, `0` not known, `9` not applicable).
pub fn parse_sex(value: &str) -> Option<Sex> {
    match value.to_ascii_lowercase().as_str() {
        "male" | "m" | "1" => Some(Sex::Male),
        "female" | "f" | "2" => Some(Sex::Female),
        "0" | "9" => Some(Sex::Unknown),
        // HL7 table 0001 writes other and unknown as O and U.
        "other" | "o" => Some(Sex::Other),
        "unknown" | "u" | "unk" => Some(Sex::Unknown),
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

/// `YYYY-MM-DD` or `YYYYMMDD` naming a real calendar date, or a partial date as FHIR writes one
/// (`YYYY`, `YYYY-MM`), which REST and `mpi import` store with its precision.
pub fn valid_date(value: &str) -> bool {
    if matches!(value.len(), 4 | 7) {
        return service::patients::parse_partial_date(value).is_some();
    }
    // Read by hand rather than by `NaiveDate::parse_from_str`, which parses its format string
    // again on every call (1% of a 1M-record file's reading).
    let (year, month, day) = match (value.len(), value.as_bytes()) {
        (10, b) if b[4] == b'-' && b[7] == b'-' => (&value[..4], &value[5..7], &value[8..]),
        (8, b) if b.iter().all(u8::is_ascii_digit) => (&value[..4], &value[4..6], &value[6..]),
        _ => return false,
    };
    match (
        digits(year, 4..=4),
        digits(month, 2..=2),
        digits(day, 2..=2),
    ) {
        (Some(y), Some(m), Some(d)) => i32::try_from(y)
            .ok()
            .and_then(|y| chrono::NaiveDate::from_ymd_opt(y, m, d))
            .is_some(),
        _ => false,
    }
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
        if let Some(m) = &record.maternity.mother_identifier {
            set(f, MOTHER_SYSTEM, &m.system);
            set(f, MOTHER_VALUE, &m.value);
        }
        if let Some(v) = &record.maternity.mother_maiden_name {
            set(f, MOTHER_MAIDEN_NAME, v);
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

    fn read_with(text: &[u8], options: &ReadOptions) -> (Vec<PersonRow>, Vec<String>) {
        let reader = PersonCsvReader::with_options(text, "t.csv", &[], options).expect("header");
        let (mut rows, mut errors) = (Vec::new(), Vec::new());
        for r in reader {
            match r {
                Ok(row) => rows.push(row),
                Err(e) => errors.push(e.to_string()),
            }
        }
        (rows, errors)
    }

    #[test]
    fn facilities_headers_and_delimiters_are_understood() {
        let text = "\u{feff}Rec_ID;FirstName;SURNAME;DOB;Gender;zip;SSN;mobile;Home Phone;street_number;address_1;Suburb;MRN;shoe size\r\n\
                    r1;Ann;Lee;1961-04-12;F;2600;123-45-6789;0412 345 678;02 6123 4567;14;Kent St;Deakin;M-1;42\r\n";
        let reader =
            PersonCsvReader::with_options(text.as_bytes(), "t.csv", &[], &ReadOptions::default())
                .expect("header");
        assert_eq!(reader.delimiter(), b';');
        assert_eq!(
            reader.mapping(),
            [
                ("id", "Rec_ID"),
                ("given_name", "FirstName"),
                ("family_name", "SURNAME"),
                ("birth_date", "DOB"),
                ("sex", "Gender"),
                ("postal_code", "zip"),
                ("national_id", "SSN"),
                ("phone", "mobile"),
                ("phone", "Home Phone"),
                ("street_number", "street_number"),
                ("address_line", "address_1"),
                ("city", "Suburb"),
                ("mrn", "MRN"),
            ]
        );
        assert_eq!(reader.ignored(), ["shoe size"]);
        let row = reader.into_iter().next().expect("row").expect("good row");
        assert_eq!(row.record.given_names, ["Ann"]);
        assert_eq!(row.record.phones, ["0412 345 678", "02 6123 4567"]);
        assert_eq!(row.record.addresses[0].lines, ["14 Kent St"]);
        assert_eq!(row.record.addresses[0].postal_code.as_deref(), Some("2600"));

        for (text, delimiter) in [
            ("id\tfname\tlast_name\nx\tA\tB\n", b'\t'),
            ("id|forename|family_name\nx|A|B\n", b'|'),
            ("id,\"notes; more; still more\",lname\nx,A,B\n", b','),
        ] {
            let options = ReadOptions::default();
            let r = PersonCsvReader::with_options(text.as_bytes(), "t.csv", &[], &options)
                .expect("header");
            assert_eq!(r.delimiter(), delimiter, "{text}");
        }
        // An explicit mapping wins over the synonyms; two headers for one column are refused.
        let options = ReadOptions {
            columns: ReadOptions::parse_columns("id=KEY, given_name=Nom2\nfamily_name=LAST # file")
                .expect("mapping"),
            ..ReadOptions::default()
        };
        let (rows, errors) = read_with(b"KEY,first,nom2,last\nk,Ann,Anna,Lee\n", &options);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(rows[0].record.given_names, ["Anna"]);
        let err = PersonCsvReader::new(&b"id,zip,postcode\n"[..], "h.csv", &[])
            .expect_err("ambiguous")
            .to_string();
        assert_eq!(
            err,
            "h.csv:1: header: columns zip and postcode both mean postal_code; choose one with --columns"
        );
        assert!(ReadOptions::parse_columns("shoe=Size").is_err());
        assert_eq!(ReadOptions::parse_delimiter("tab"), Ok(b'\t'));
        assert_eq!(ReadOptions::parse_delimiter(";"), Ok(b';'));
        assert!(ReadOptions::parse_delimiter(";;").is_err());
    }

    #[test]
    fn a_date_order_reads_slashed_dates_as_the_file_writes_them() {
        let text =
            b"id,birth_date\na,03/05/1972\nb,03/25/1972\nc,25.03.1972\nd,1972-03-05\ne,3-5-1972\n";
        let dates = |order: Option<DateOrder>, lenient: bool| {
            let options = ReadOptions {
                lenient,
                date_order: order,
                ..ReadOptions::default()
            };
            let (rows, errors) = read_with(text, &options);
            let dates: Vec<Option<String>> =
                rows.iter().map(|r| r.record.birth_date.clone()).collect();
            let warnings = rows
                .iter()
                .flat_map(|r| &r.warnings)
                .filter(|w| w.column == "birth_date")
                .count();
            (dates, errors, warnings)
        };
        let d = |s: &str| Some(s.to_owned());
        // Month first: 5 March and 25 March; 25.03 is no month-first date and stays as written.
        let (got, errors, warnings) = dates(Some(DateOrder::Mdy), true);
        assert_eq!(
            got,
            [
                d("1972-03-05"),
                d("1972-03-25"),
                d("25.03.1972"),
                d("1972-03-05"),
                d("1972-03-05")
            ]
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(warnings, 1, "only the date the order cannot read");
        // Day first: 3 May; 03/25 is no day-first date.
        let (got, errors, _) = dates(Some(DateOrder::Dmy), false);
        assert_eq!(
            got,
            [
                d("1972-05-03"),
                d("1972-03-25"),
                d("1972-03-05"),
                d("1972-05-03")
            ]
        );
        assert_eq!(
            errors,
            ["t.csv:3: column birth_date: invalid date (expected YYYY-MM-DD or YYYYMMDD)"]
        );
        // Without an order, a file whose dates fit one order as often as the other (25.03 only
        // day first, 03/25 only month first) tells none: strict reading refuses what is not
        // YYYY-MM-DD or YYYYMMDD, as before.
        let (got, errors, _) = dates(None, false);
        assert_eq!(got, [d("1972-03-05")]);
        assert_eq!(errors.len(), 4);
    }

    /// Reads `text` strictly without a date order: the dates, the errors and what was inferred.
    fn inferred(text: &[u8]) -> (Vec<Option<String>>, Vec<String>, Option<InferredDateOrder>) {
        let reader =
            PersonCsvReader::with_options(text, "t.csv", &[], &ReadOptions::default()).unwrap();
        let inferred = reader.date_order();
        let (mut dates, mut errors) = (Vec::new(), Vec::new());
        for row in reader {
            match row {
                Ok(row) => dates.push(row.record.birth_date),
                Err(e) => errors.push(e.to_string()),
            }
        }
        (dates, errors, inferred)
    }

    #[test]
    fn the_order_of_day_and_month_is_inferred_from_the_first_rows() {
        let d = |s: &str| Some(s.to_owned());
        // A United States file: 12/25 fits only month first, so 03/05 is March 5.
        let (dates, errors, found) =
            inferred(b"id,DOB\na,03/05/1972\nb,12/25/1980\nc,1990-07-04\nd,\n");
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            dates,
            [d("1972-03-05"), d("1980-12-25"), d("1990-07-04"), None]
        );
        assert_eq!(
            found,
            Some(InferredDateOrder {
                order: Some(DateOrder::Mdy),
                day_first: 0,
                month_first: 1
            })
        );
        // A European file with dots: 25.12 fits only day first, so 03.05 is 3 May.
        let (dates, errors, found) = inferred(b"id;birth_date\na;03.05.1972\nb;25.12.1980\n");
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(dates, [d("1972-05-03"), d("1980-12-25")]);
        assert_eq!(found.and_then(|f| f.order), Some(DateOrder::Dmy));
        // One typed date in the other order among many (a digit in the wrong place) does not
        // change the file's order: at most one in fifty may disagree.
        let mut text = b"id,birth_date\nx,13/05/1972\n".to_vec();
        for i in 0..60 {
            text.extend_from_slice(format!("r{i},01/{}/1950\n", 13 + i % 15).as_bytes());
        }
        let (dates, errors, found) = inferred(&text);
        assert_eq!(
            found,
            Some(InferredDateOrder {
                order: Some(DateOrder::Mdy),
                day_first: 1,
                month_first: 60
            })
        );
        assert_eq!(
            dates[0],
            d("1950-01-13"),
            "the rows after the disagreeing one"
        );
        assert_eq!(errors.len(), 1, "13/05 is no month-first date: {errors:?}");
        assert!(
            errors[0].starts_with("t.csv:2: column birth_date"),
            "{errors:?}"
        );
        // Times of day that exports append are dropped; months written as names are read.
        let (dates, errors, _) = inferred(
            b"id,dob\na,1985-03-12 00:00:00\nb,1985-03-12T00:00:00Z\nc,12-MAR-85\n\
              d,\"Mar 12, 1985\"\ne,12 March 1985\nf,3/12/1985 0:00\ng,12/13/1985 12:00:00 AM\n\
              h,\"Tuesday, March 12, 1985\"\ni,Tue 12 Mar 1985\n",
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            dates,
            vec![d("1985-03-12"); 6]
                .into_iter()
                .chain([d("1985-12-13"), d("1985-03-12"), d("1985-03-12")])
                .collect::<Vec<_>>()
        );
        // A weekday alone before a date that is not written with a month name stays unread.
        let (_, errors, _) = inferred(b"id,dob\na,\"Sunday, 1985-03-12\"\nb,Mon 3 1985\n");
        assert_eq!(errors.len(), 2, "{errors:?}");
        // Numbers a spreadsheet or a data frame wrote as floats lose their zero fraction.
        let (dates, errors, _) = inferred(b"id,dob\na,19850312.0\n");
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(dates, [d("19850312")]);
        let text = b"id,phone,zip,ssn,mrn\na,5551234567.0,44046.0,123456789.00,12.5\n";
        let (rows, errors) = read_with(text, &ReadOptions::default());
        assert!(errors.is_empty(), "{errors:?}");
        let record = &rows[0].record;
        assert_eq!(record.phones, ["5551234567"]);
        assert_eq!(record.addresses[0].postal_code.as_deref(), Some("44046"));
        assert_eq!(record.identifiers[0].value, "123456789");
        assert_eq!(record.identifiers[1].value, "12.5", "a real fraction stays");
        // A spreadsheet's two-digit years: 72 is 1972, 05 is 2005 (no birth date is in the future).
        let (dates, errors, _) = inferred(b"id,dob\na,3/5/72\nb,12/25/05\nc,1/13/1999\n");
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(dates, [d("1972-03-05"), d("2005-12-25"), d("1999-01-13")]);
        // Dates that fit both orders tell nothing; nor does a file without slashed dates.
        let (_, errors, found) = inferred(b"id,birth_date\na,03/05/1972\n");
        assert_eq!(found.and_then(|f| f.order), None);
        assert_eq!(
            errors.len(),
            1,
            "strict reading still refuses it: {errors:?}"
        );
        let (_, _, found) = inferred(b"id,given_name\na,Ann\n");
        assert_eq!(found, None, "no birth-date column, nothing inferred");
        // A given order is used as it is, without reading ahead.
        let options = ReadOptions {
            date_order: Some(DateOrder::Dmy),
            ..ReadOptions::default()
        };
        let reader =
            PersonCsvReader::with_options(&b"id,dob\na,12/25/1980\n"[..], "t.csv", &[], &options)
                .unwrap();
        assert_eq!(reader.date_order(), None);
    }

    #[test]
    fn headers_behind_a_prefix_or_with_an_abbreviated_ending_are_understood() {
        for (header, column) in [
            ("Patient Last Name", Some("family_name")),
            ("PAT_FIRST_NM", Some("given_name")),
            ("pt_dob", Some("birth_date")),
            ("SEX_CD", Some("sex")),
            ("Member Zip Code", Some("postal_code")),
            ("PHONE_NUM", Some("phone")),
            ("ssn_no", Some("national_id")),
            ("Patient Name", Some("full_name")),
            ("Name", Some("full_name")),
            ("PatientID", Some("id")),
            ("Address Line 1", Some("address_line")),
            // Words that only look like it stay unknown.
            ("Patient Class", None),
            ("Member Number", None),
            ("Account Number", None),
            ("Facility Name", None),
            ("Mother Name", None),
            ("DOB (MM/DD/YYYY)", Some("birth_date")),
            // Other languages' headers, accents or not.
            ("Prénom", Some("given_name")),
            ("Nachname", Some("family_name")),
            ("Date de naissance", Some("birth_date")),
            ("Fecha de nacimiento", Some("birth_date")),
            ("Straße", Some("address_line")),
            ("Código postal", Some("postal_code")),
            ("Téléphone", Some("phone")),
            ("Phone [home]", Some("phone")),
        ] {
            assert_eq!(column_of_header(header), column, "{header}");
        }
    }

    #[test]
    fn a_whole_name_in_one_field_is_split() {
        let s = |v: &str| Some(v.to_owned());
        for (whole, want) in [
            (
                "Whitfield, Margaret Ann",
                (s("Margaret"), s("Ann"), s("Whitfield")),
            ),
            ("Whitfield,Margaret", (s("Margaret"), None, s("Whitfield"))),
            ("de la Cruz, Maria", (s("Maria"), None, s("de la Cruz"))),
            (
                "WHITFIELD^MARGARET^ANN",
                (s("MARGARET"), s("ANN"), s("WHITFIELD")),
            ),
            (
                "Margaret Ann Whitfield",
                (s("Margaret"), s("Ann"), s("Whitfield")),
            ),
            ("John Smith Jr.", (s("John"), None, s("Smith Jr."))),
            ("Maria de la Cruz", (s("Maria"), None, s("de la Cruz"))),
            (
                "Abdul Rahman bin Ahmad",
                (s("Abdul"), s("Rahman"), s("bin Ahmad")),
            ),
            ("Van Morrison", (s("Van"), None, s("Morrison"))),
            ("Sukarno", (None, None, s("Sukarno"))),
        ] {
            assert_eq!(split_full_name(whole), want, "{whole}");
        }
        // Read when the row has no name columns of its own; a row that has them keeps them.
        let text = b"Rec_ID;Patient Name;LAST_NM\na;Whitfield, Margaret;\nb;Ignored Name;Okonkwo\n";
        let (rows, errors) = read_with(text, &ReadOptions::default());
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(rows[0].record.given_names, ["Margaret"]);
        assert_eq!(rows[0].record.family_names, ["Whitfield"]);
        assert!(rows[1].record.given_names.is_empty());
        assert_eq!(rows[1].record.family_names, ["Okonkwo"]);
    }

    #[test]
    fn reading_ahead_keeps_the_rows_their_order_and_their_errors() {
        // A row of the wrong length among the rows read ahead is still reported at its line, and
        // every row comes out once, in file order, including those after the read-ahead.
        let mut text = b"id,given_name,birth_date\na,Ann,25/12/1980\nb,Bo\n".to_vec();
        let extra = DATE_ORDER_SAMPLE + 5;
        for i in 0..extra {
            text.extend_from_slice(format!("r{i},Cy,01/02/1950\n").as_bytes());
        }
        let reader =
            PersonCsvReader::with_options(&text[..], "t.csv", &[], &ReadOptions::default())
                .unwrap();
        assert_eq!(
            reader.date_order().and_then(|f| f.order),
            Some(DateOrder::Dmy)
        );
        let mut ids = Vec::new();
        let mut errors = Vec::new();
        for row in reader {
            match row {
                Ok(row) => ids.push(row.id),
                Err(e) => errors.push(e.to_string()),
            }
        }
        assert_eq!(errors, ["t.csv:3: expected 3 fields, found 2"]);
        assert_eq!(ids.len(), extra + 1);
        assert_eq!(ids[0], "a");
        assert_eq!(ids[1], "r0");
        assert_eq!(ids[extra], format!("r{}", extra - 1));
    }

    /// What a spreadsheet does to a file: birth dates as day numbers or year first, long numbers
    /// in scientific notation, ISO/IEC 5218 sex codes, a phone with its extension.
    #[test]
    fn a_spreadsheets_numbers_are_read_for_what_they_still_say() {
        let text = "id,family_name,sex,birth_date,national_id,phone,postal_code\n\
                    a,Lee,2,30865,1.23457E+08,5.55123E+09,2.6E+03\n\
                    b,Lee,1,1984/07/02,123456789,555-123-4567 x22,2600\n\
                    c,Lee,0,1984.7.2,1E+09,\"5,55123E+09\",12345\n\
                    d,Lee,9,1984,E+5,1.2E5 555 0199,3.0\n\
                    e,Lee,F,44000,,,\n";
        let lenient = ReadOptions {
            lenient: true,
            ..ReadOptions::default()
        };
        let (rows, errors) = read_with(text.as_bytes(), &lenient);
        assert!(errors.is_empty(), "{errors:?}");
        let warnings: Vec<String> = rows
            .iter()
            .flat_map(|r| r.warnings.iter().map(ToString::to_string))
            .collect();
        let lost = "in scientific notation, as a spreadsheet writes a long number, its last digits lost (treated as missing)";
        assert_eq!(
            warnings,
            [
                format!("line 2: column postal_code: {lost}"),
                format!("line 2: column national_id: {lost}"),
                format!("line 2: column phone: {lost}"),
                "line 2: column birth_date: a spreadsheet's day number (read as the date it counts to)"
                    .to_owned(),
                format!("line 4: column national_id: {lost}"),
                format!("line 4: column phone: {lost}"),
                "line 6: column birth_date: a spreadsheet's day number (read as the date it counts to)"
                    .to_owned(),
            ]
        );
        let record = |id: &str| &rows.iter().find(|r| r.id == id).expect(id).record;
        assert_eq!(record("a").birth_date.as_deref(), Some("1984-07-02"));
        assert_eq!(record("a").sex, Some(Sex::Female));
        assert!(record("a").identifiers.is_empty() && record("a").phones.is_empty());
        assert!(record("a").addresses.is_empty());
        assert_eq!(record("b").birth_date.as_deref(), Some("1984-07-02"));
        assert_eq!(record("b").sex, Some(Sex::Male));
        assert_eq!(record("b").phones, ["555-123-4567 x22"]);
        assert_eq!(record("c").birth_date.as_deref(), Some("1984-07-02"));
        assert_eq!(record("c").sex, Some(Sex::Unknown));
        // A year stays a year; what is not a spreadsheet's notation stays as written.
        assert_eq!(record("d").birth_date.as_deref(), Some("1984"));
        assert_eq!(record("d").sex, Some(Sex::Unknown));
        assert_eq!(record("d").identifiers[0].value, "E+5");
        assert_eq!(record("d").phones, ["1.2E5 555 0199"]);
        assert_eq!(record("d").addresses[0].postal_code.as_deref(), Some("3"));
        assert_eq!(record("e").birth_date.as_deref(), Some("2020-06-18"));

        // Strict reading refuses the lost digits and leaves a day number unread.
        let (_, errors) = read_with(text.as_bytes(), &ReadOptions::default());
        assert_eq!(
            errors,
            [
                format!("t.csv:2: column postal_code: {}", SCIENTIFIC),
                format!("t.csv:4: column national_id: {}", SCIENTIFIC),
                "t.csv:6: column birth_date: invalid date (expected YYYY-MM-DD or YYYYMMDD)"
                    .to_owned(),
            ]
        );
    }

    /// A voter roll's or registry's layout: the birth date in three columns (or a year alone),
    /// the residence's address behind `res_`, a city as `_desc`, an abbreviated middle name, and
    /// an ONC-style `EnterpriseID` as the row's id.
    #[test]
    fn only_calendar_dates_are_valid() {
        for good in ["1989-05-25", "19890525", "2000-02-29", "1989", "1989-05"] {
            assert!(valid_date(good), "{good}");
        }
        for bad in [
            "1989-02-30",
            "19890230",
            "1900-02-29",
            "1989-13-01",
            "1989/05/25",
            "1989-5-025",
            "19ü9-05-2",
            "19ü90525",
            "1989052a",
            "+989-05-25",
            "",
            "1989-05-2",
        ] {
            assert!(!valid_date(bad), "{bad}");
        }
        assert_eq!(iso_date(984, 7, 2).as_deref(), Some("0984-07-02"));
        assert_eq!(iso_date(1984, 2, 30), None);
    }

    #[test]
    fn a_birth_date_in_parts_is_put_together() {
        let text = "EnterpriseID,last_name,midl_name,res_street_address,res_city_desc,birth_year,birth_month,day_of_birth\n\
                    1,Smith,A,12 Main St,Raleigh,1950,3,4\n\
                    2,Smith,,12 Main St,Raleigh,1950,Mar,04\n\
                    3,Doe,,,,1961,,\n\
                    4,Doe,,,,1961,13,1\n\
                    5,Roe,,,,,7,1\n";
        let lenient = ReadOptions {
            lenient: true,
            ..ReadOptions::default()
        };
        let reader =
            PersonCsvReader::with_options(text.as_bytes(), "t.csv", &[], &lenient).expect("header");
        assert_eq!(
            reader.mapping(),
            [
                ("id", "EnterpriseID"),
                ("family_name", "last_name"),
                ("middle_name", "midl_name"),
                ("address_line", "res_street_address"),
                ("city", "res_city_desc"),
                (BIRTH_YEAR, "birth_year"),
                (BIRTH_MONTH, "birth_month"),
                (BIRTH_DAY, "day_of_birth"),
            ]
        );
        let rows: Vec<PersonRow> = reader.map(|r| r.expect("row")).collect();
        let date = |i: usize| rows[i].record.birth_date.as_deref();
        assert_eq!(date(0), Some("1950-03-04"));
        assert_eq!(date(1), Some("1950-03-04"));
        assert_eq!(date(2), Some("1961"));
        // No such month: kept as typed for the digit-by-digit comparison, with a warning.
        assert_eq!(date(3), Some("1961-13-01"));
        assert_eq!(
            rows[3].warnings[0].to_string(),
            "line 5: column birth_date: no such date (kept for a digit-by-digit comparison)"
        );
        // No year, no date.
        assert_eq!(date(4), None);
        assert_eq!(rows[0].record.given_names, ["A"]);
        assert_eq!(rows[0].record.addresses[0].city.as_deref(), Some("Raleigh"));
        // A birth_date column of its own is read instead of the parts.
        let both = "id,dob,birth_year\na,1950-03-04,1949\n";
        let (rows, errors) = read_with(both.as_bytes(), &ReadOptions::default());
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(rows[0].record.birth_date.as_deref(), Some("1950-03-04"));
    }

    #[test]
    fn lenient_reading_costs_a_bad_field_not_the_row() {
        let mut text: Vec<u8> = b"id,given_name,family_name,sex,birth_date,phone,postal_code,national_id,mrn,mrn_system,email\n".to_vec();
        text.extend_from_slice(b"a,Ann,Lee,X,19551192,n/a,--,###,M-1,,ann.example.org\n");
        text.extend_from_slice(
            b"b,Bo\x01b,Ng,M,1953-78-25,0412 345 678,2600,123-45-678#9,,urn:x,NULL\n",
        );
        text.extend_from_slice(b"c,,,F,196104,12,2600,,,,\n");
        text.extend_from_slice(b"d,Caf\xe9,\"Multi\nLine\",f,soon,,,,,,\n");
        text.extend_from_slice(b"e,Too,Few\n");
        text.extend_from_slice(b",No,Id,,,,,,,,\n");
        text.extend_from_slice(b"g,Ann,Lee,F,12/04/1961,,,,,,\n");
        let options = ReadOptions {
            lenient: true,
            ..ReadOptions::default()
        };
        let (rows, errors) = read_with(&text, &options);
        assert_eq!(
            errors,
            [
                "t.csv:7: expected 11 fields, found 3",
                "t.csv:8: column id: missing id"
            ]
        );
        let warnings: Vec<String> = rows
            .iter()
            .flat_map(|r| r.warnings.iter().map(ToString::to_string))
            .collect();
        assert_eq!(
            warnings,
            [
                "line 2: column sex: invalid sex (treated as missing)",
                "line 2: column birth_date: no such date (kept for a digit-by-digit comparison)",
                "line 2: column postal_code: no letter or digit (treated as missing)",
                "line 2: column national_id: no letter or digit (treated as missing)",
                "line 2: column email: no @ (treated as missing)",
                "line 3: column given_name: control characters removed",
                "line 3: column birth_date: no such date (kept for a digit-by-digit comparison)",
                "line 3: column mrn_system: mrn_system given without an mrn (ignored)",
                "line 4: column birth_date: partial date (compared at the precision it has)",
                "line 4: column phone: fewer than 5 digits (treated as missing)",
                "line 4: no name (kept)",
                "line 5: column given_name: not valid UTF-8 (read as Windows-1252)",
                "line 5: column family_name: control characters removed",
                "line 5: column birth_date: invalid date (treated as missing)",
                "line 9: column birth_date: not YYYY-MM-DD or YYYYMMDD (read day first, as DD/MM/YYYY, unless the first number cannot be a day's month; --date-order mdy or dmy says how the file writes it)",
            ]
        );
        let by_id = |id: &str| &rows.iter().find(|r| r.id == id).expect(id).record;
        assert_eq!(by_id("a").birth_date.as_deref(), Some("19551192"));
        assert_eq!(by_id("a").sex, None);
        assert!(by_id("a").phones.is_empty());
        assert_eq!(by_id("b").given_names, ["Bob"]);
        assert_eq!(by_id("b").identifiers[0].value, "123-45-678#9");
        assert!(by_id("b").emails.is_empty());
        assert_eq!(by_id("d").family_names, ["Multi Line"]);
        assert_eq!(by_id("d").given_names, ["Café"]);
        assert_eq!(by_id("d").birth_date, None);
        // The same file read strictly: every bad field is a bad row, as before.
        let (rows, errors) = read_with(&text, &ReadOptions::default());
        assert!(rows.is_empty());
        assert_eq!(
            errors,
            [
                "t.csv:2: column sex: invalid sex (expected male, female, other, unknown, M or F)",
                "t.csv:3: column birth_date: invalid date (expected YYYY-MM-DD or YYYYMMDD)",
                "t.csv:4: column birth_date: invalid date (expected YYYY-MM-DD or YYYYMMDD)",
                "t.csv:5: column given_name: not valid UTF-8",
                "t.csv:7: expected 11 fields, found 3",
                "t.csv:8: column id: missing id",
                "t.csv:9: column birth_date: invalid date (expected YYYY-MM-DD or YYYYMMDD)",
            ]
        );
    }

    #[test]
    fn mother_columns_are_read_in_either_form() {
        let mother = |system: &str, value: &str| {
            Some(Identifier {
                system: system.into(),
                value: value.into(),
            })
        };
        let text = "id,Mother Identifier,mother_identifier_system,mother_identifier_value,Mother's Maiden Name\n\
                    a,urn:x|M-1,,,Dlamini\n\
                    b,,urn:x,M-2,\n\
                    c,M-3,,,\n\
                    d,,,M-4,\n\
                    e,urn:x|,,,\n\
                    f,,urn:x,,\n\
                    g,urn:x|M-1,,M-1,\n\
                    h,urn:x|???,,,\n";
        let rows = read_all(text, &[]);
        let ok = |i: usize| rows[i].clone().expect("row").record.maternity;
        assert_eq!(ok(0).mother_identifier, mother("urn:x", "M-1"));
        assert_eq!(ok(0).mother_maiden_name.as_deref(), Some("Dlamini"));
        assert_eq!(ok(1).mother_identifier, mother("urn:x", "M-2"));
        assert_eq!(ok(1).mother_maiden_name, None);
        assert_eq!(ok(2).mother_identifier, mother("", "M-3"));
        assert_eq!(ok(3).mother_identifier, mother("", "M-4"));
        let err = |i: usize| rows[i].clone().expect_err("bad row");
        assert_eq!(
            err(4),
            "t.csv:6: column mother_identifier: the mother's identifier has no value"
        );
        assert_eq!(
            err(5),
            "t.csv:7: column mother_identifier_system: mother_identifier_system given without a mother_identifier_value"
        );
        assert!(err(6).starts_with("t.csv:8: column mother_identifier: give mother_identifier"));
        // Strict reading keeps what the service may store (it is not blank).
        assert_eq!(ok(7).mother_identifier, mother("urn:x", "???"));

        let (lenient, errors) = read_with(
            text.as_bytes(),
            &ReadOptions {
                lenient: true,
                ..Default::default()
            },
        );
        assert!(errors.is_empty(), "{errors:?}");
        let warned: Vec<(&str, Option<&Identifier>, Vec<String>)> = lenient
            .iter()
            .map(|r| {
                (
                    r.id.as_str(),
                    r.record.maternity.mother_identifier.as_ref(),
                    r.warnings
                        .iter()
                        .filter(|w| !w.column.is_empty())
                        .map(|w| w.column.clone())
                        .collect(),
                )
            })
            .collect();
        assert_eq!(warned[4], ("e", None, vec!["mother_identifier".to_owned()]));
        assert_eq!(
            warned[5],
            ("f", None, vec!["mother_identifier_system".to_owned()])
        );
        assert_eq!(warned[6], ("g", None, vec!["mother_identifier".to_owned()]));
        assert_eq!(warned[7], ("h", None, vec!["mother_identifier".to_owned()]));

        // The synonyms of the maiden name, and the columns named explicitly.
        for header in [
            "mothers_maiden_name",
            "MAIDEN_NAME_OF_MOTHER",
            "mother_maiden_name",
        ] {
            let text = format!("id,{header}\na,Zulu\n");
            let row = read_all(&text, &[]).remove(0).expect("row");
            assert_eq!(
                row.record.maternity.mother_maiden_name.as_deref(),
                Some("Zulu")
            );
        }
        let columns = ReadOptions::parse_columns("mother_identifier=MOM,mother_maiden_name=MMN")
            .expect("map");
        let (rows, _) = read_with(
            b"id,MOM,MMN\na,urn:x|M-9,Zulu\n",
            &ReadOptions {
                columns,
                ..Default::default()
            },
        );
        assert_eq!(
            rows[0].record.maternity.mother_identifier,
            mother("urn:x", "M-9")
        );
        assert_eq!(
            rows[0].record.maternity.mother_maiden_name.as_deref(),
            Some("Zulu")
        );
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
                "h.csv:1: header: no id column (columns: {}; or name it with --columns id=HEADER)",
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
            maternity: matcher::Maternity {
                mother_maiden_name: Some("Dlamini".into()),
                mother_identifier: Some(Identifier {
                    system: "urn:mpi:facility:01".into(),
                    value: "MRN-0".into(),
                }),
                birth_order: None,
            },
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
