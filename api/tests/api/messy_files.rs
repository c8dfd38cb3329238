//! Files as facilities hand them over, through the real `mpi` binary: their own headers and
//! delimiters, a BOM, CRLF line ends, quoted newlines, and every kind of bad field. A batch job
//! keeps every record it can and lists what it dropped in `warnings.csv` (never the values);
//! `--strict` refuses the file instead; `mpi import --lenient` stores a record without its bad
//! field (SQLite and PostgreSQL); FEBRL 2 is deduplicated as published, with its own headers and
//! its mistyped birth dates.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use migration::testing::{Backend, TestDb};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use entity::{patient, patient_name};

use crate::both_backends;
use crate::helpers::{ScratchDir, run_mpi, run_mpi_ok};

/// `id -> cluster_id` of a clusters.csv.
fn clusters(path: &std::path::Path) -> HashMap<String, String> {
    let mut reader = csv::Reader::from_path(path).expect("clusters.csv");
    reader
        .records()
        .map(|r| {
            let r = r.expect("row");
            (r[0].to_owned(), r[1].to_owned())
        })
        .collect()
}

/// `mpi dedupe --input INPUT --output out --quiet` in `dir`, which must succeed; its stderr.
fn dedupe_into_out(dir: &std::path::Path, input: &str) -> String {
    let out = run_mpi(
        dir,
        &["dedupe", "--input", input, "--output", "out", "--quiet"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    stderr
}

/// A semicolon-separated export with a BOM, CRLF line ends and a facility's own headers.
fn messy_file() -> Vec<u8> {
    let mut text = "\u{feff}PatientID;FirstName;LAST;DOB;Gender;Zip;SSN;Mobile;Notes\r\n"
        .as_bytes()
        .to_vec();
    for line in [
        &b"a1;Margaret;Whitfield;1961-04-12;F;2600;123-45-6789;0412 345 678;first visit\r\n"[..],
        // A mistyped birth date and sex code; a quoted newline in an ignored column.
        b"a2;Margaret;Whitfield;19610492;X;2600;123-45-6789;0412 345 678;\"typed\r\nin a hurry\"\r\n",
        // A control character, a postal code without a digit, an SSN with a stray character.
        b"a3;Marg\x01aret;Whitfeld;1961-04-12;female;--;123-45-678#9;N/A;\r\n",
        b"b1;Tobias;Okonkwo;1975-11-30;M;3000;987-65-4321;0400 111 222;\r\n",
        // No name, a phone number too short, text that is not UTF-8.
        b"b2;;;1975-11-30;M;3000;987-65-4321;12;caf\xe9\r\n",
        // A wrong number of fields, a duplicate id: skipped.
        b"c1;Only;Three\r\n",
        b"b1;Dup;Id;1975-11-30;M;3000;;;\r\n",
        b"d1;Ines;Carvalho;1953-78-25;F;4000;555-44-3333;;\r\n",
        // Day first, the only order this date fits: the file's order.
        b"e1;Noor;Haddad;30/11/1975;F;3000;;;\r\n",
    ] {
        text.extend_from_slice(line);
    }
    text
}

#[test]
fn a_messy_file_is_deduplicated_to_the_end_and_every_bad_field_listed() {
    let dir = ScratchDir::new();
    std::fs::write(dir.path.join("messy.csv"), messy_file()).expect("write");
    let stderr = dedupe_into_out(&dir.path, "messy.csv");
    assert!(
        stderr.contains(
            "messy.csv: delimiter ';'; columns id=PatientID, given_name=FirstName, \
             family_name=LAST, birth_date=DOB, sex=Gender, postal_code=Zip, national_id=SSN, \
             phone=Mobile; ignored: Notes"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("9 warnings (2 rows skipped, the other records kept without the bad field): see out/warnings.csv"),
        "{stderr}"
    );
    // 30/11/1975 fits only day first: the file's slashed dates are read so, without a warning.
    assert!(
        stderr.contains(
            "messy.csv: birth dates read as DD/MM/YYYY (inferred from the first rows: 1 fit only \
             day first, 0 only month first; --date-order says otherwise)"
        ),
        "{stderr}"
    );
    let warnings = std::fs::read_to_string(dir.path.join("out/warnings.csv")).expect("warnings");
    assert_eq!(
        warnings,
        "line,column,reason\n\
         3,sex,invalid sex (treated as missing)\n\
         3,birth_date,no such date (kept for a digit-by-digit comparison)\n\
         5,given_name,control characters removed\n\
         5,postal_code,no letter or digit (treated as missing)\n\
         7,phone,fewer than 5 digits (treated as missing)\n\
         7,,no name (kept)\n\
         8,,\"expected 9 fields, found 3 (row skipped)\"\n\
         9,id,duplicate id (first on line 6) (row skipped)\n\
         10,birth_date,no such date (kept for a digit-by-digit comparison)\n"
    );
    let clusters = clusters(&dir.path.join("out/clusters.csv"));
    let mut ids: Vec<&str> = clusters.keys().map(String::as_str).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["a1", "a2", "a3", "b1", "b2", "d1", "e1"]);
    // The mistyped date and the repaired fields still match their person.
    assert_eq!(clusters["a2"], clusters["a1"]);
    assert_eq!(clusters["a3"], clusters["a1"]);
    assert_eq!(clusters["d1"], "d1");

    // --strict refuses the file at its first bad field.
    let out = run_mpi(
        &dir.path,
        &[
            "dedupe",
            "--strict",
            "--input",
            "messy.csv",
            "--output",
            "strict",
            "--quiet",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("messy.csv:3: column sex: invalid sex"),
        "{stderr}"
    );

    // `mpi link` lists the warnings of both files, by file.
    std::fs::write(
        dir.path.join("other.csv"),
        "id,given_name,family_name,birth_date,sex\nz1,Margaret,Whitfield,1961-04-12,F\nz2,Tobias,Okonkwo,1975-13-30,M\n",
    )
    .expect("write");
    run_mpi_ok(
        &dir.path,
        &[
            "link",
            "--left",
            "messy.csv",
            "--right",
            "other.csv",
            "--output",
            "linked",
            "--quiet",
        ],
    );
    let warnings = std::fs::read_to_string(dir.path.join("linked/warnings.csv")).expect("warnings");
    let lines: Vec<&str> = warnings.lines().collect();
    assert_eq!(lines[0], "file,line,column,reason");
    assert_eq!(lines.len(), 1 + 9 + 1, "{warnings}");
    assert_eq!(
        lines[10],
        "other.csv,3,birth_date,no such date (kept for a digit-by-digit comparison)"
    );
    // No value of the file reaches the warnings.
    for value in ["19610492", "1953-78-25", "Marg", "café", "12;", "Only"] {
        assert!(!warnings.contains(value), "{value} in {warnings}");
    }
}

#[test]
fn columns_are_mapped_explicitly_and_delimiters_set() {
    let dir = ScratchDir::new();
    std::fs::write(
        dir.path.join("tabs.txt"),
        "KEY\tNOM\tPRENOM\tNE_LE\nk1\tDurand\tCamille\t1980-02-03\nk2\tDurand\tCamille\t1980-02-03\n",
    )
    .expect("write");
    std::fs::write(
        dir.path.join("map.txt"),
        "# the registry's export\nfamily_name=NOM\ngiven_name=PRENOM\nbirth_date=NE_LE\n",
    )
    .expect("write");
    let out = run_mpi(
        &dir.path,
        &[
            "dedupe",
            "--input",
            "tabs.txt",
            "--output",
            "out",
            "--quiet",
            "--delimiter",
            "tab",
            "--columns",
            "id=KEY",
            "--columns-file",
            "map.txt",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(
            "tabs.txt: delimiter tab; columns id=KEY, family_name=NOM, given_name=PRENOM, birth_date=NE_LE; ignored: none"
        ),
        "{stderr}"
    );
    // The two records were read with their names and dates: blocking paired them.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("2 records, 1 candidate pairs"), "{stdout}");
    // A mapping to no such column is a usage error; to a missing header, a header error.
    let out = run_mpi(
        &dir.path,
        &[
            "dedupe",
            "--input",
            "tabs.txt",
            "--output",
            "o",
            "--columns",
            "shoe=KEY",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let out = run_mpi(
        &dir.path,
        &[
            "dedupe",
            "--input",
            "tabs.txt",
            "--output",
            "o",
            "--columns",
            "id=NOPE",
        ],
    );
    assert_eq!(out.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("tabs.txt:1: header: --columns maps id to a header the file does not have")
    );
}

/// A hospital system's export as it comes: headers behind `PAT_` and with `_CD`/`_NUM` endings, a
/// date format note in a header, the whole name in one column (`Family, Given` and HL7's
/// `FAMILY^GIVEN`), text in Windows-1252, numbers written as floats, times of day after the
/// dates, month-first dates and a month written as a name, a ZIP+4. Read without any option,
/// each person's two records end in one cluster.
#[test]
fn a_hospital_export_is_read_without_being_told_its_layout() {
    let dir = ScratchDir::new();
    let mut text =
        b"PAT_ID,Patient Name,PAT_SEX_CD,DOB (MM/DD/YYYY),PAT_ZIP_CD,PAT_PHONE_NUM,SSN_NO\r\n"
            .to_vec();
    for line in [
        // MÜLLER, JÜRGEN and Jürgen Müller in Windows-1252 (Ü is 0xDC, ü 0xFC).
        &b"h1,\"M\xdcLLER, J\xdcRGEN\",M,03/04/1961 00:00:00,44046.0,5551234567.0,123456789.0\r\n"
            [..],
        b"h2,J\xfcrgen M\xfcller,M,03/04/1961,44046-1234,(555) 123-4567,123-45-6789\r\n",
        b"h3,\"Okonkwo, Tobias\",M,12/25/1975 0:00,30301,4045550199,987654321\r\n",
        b"h4,OKONKWO^TOBIAS,M,25-DEC-1975,30301.0,404-555-0199,987-65-4321\r\n",
        b"h5,\"Whitfield, Margaret\",F,04/03/1961,44046,5559876543,111223333\r\n",
    ] {
        text.extend_from_slice(line);
    }
    std::fs::write(dir.path.join("export.csv"), text).expect("write");
    let stderr = dedupe_into_out(&dir.path, "export.csv");
    assert!(
        stderr.contains(
            "export.csv: delimiter ','; columns id=PAT_ID, full_name=Patient Name, sex=PAT_SEX_CD, \
             birth_date=DOB (MM/DD/YYYY), postal_code=PAT_ZIP_CD, phone=PAT_PHONE_NUM, \
             national_id=SSN_NO; ignored: none"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("export.csv: birth dates read as MM/DD/YYYY (inferred from the first rows: 0 fit only day first, 1 only month first"),
        "{stderr}"
    );
    let warnings = std::fs::read_to_string(dir.path.join("out/warnings.csv")).expect("warnings");
    assert_eq!(
        warnings,
        "line,column,reason\n\
         2,full_name,not valid UTF-8 (read as Windows-1252)\n\
         3,full_name,not valid UTF-8 (read as Windows-1252)\n"
    );
    let clusters = clusters(&dir.path.join("out/clusters.csv"));
    assert_eq!(clusters["h2"], clusters["h1"], "{clusters:?}");
    assert_eq!(clusters["h4"], clusters["h3"], "{clusters:?}");
    assert_ne!(clusters["h3"], clusters["h1"]);
    assert_ne!(clusters["h5"], clusters["h1"], "{clusters:?}");
    assert_ne!(clusters["h5"], clusters["h3"]);
}

/// A sheet saved from a spreadsheet, with no id column of its own: birth dates as the
/// spreadsheet's day numbers (a date cell that lost its format) or year first, sex as ISO/IEC
/// 5218 codes, SSNs in scientific notation (two different SSNs read the same there), a phone with
/// its extension. Rows are named by their line numbers; each person's two records end in one
/// cluster, and the stranger whose SSN reads like another's in scientific notation stays apart.
#[test]
fn a_spreadsheet_without_an_id_column_is_read_for_what_its_numbers_still_say() {
    let dir = ScratchDir::new();
    std::fs::write(
        dir.path.join("sheet.csv"),
        "MRN,First Name,Last Name,Birth Date,Sex,SSN,Phone\n\
         s1,Anna,Smith,1984/07/02,2,123-45-6789,555-123-4567 x22\n\
         s2,Anna,Smith,30865,F,1.23457E+08,5551234567\n\
         s3,Robert,Jones,1950.3.14,1,987-65-4321,555.765.4321\n\
         s4,Robert,Jones,18336,M,9.87654E+08,(555) 765-4321 ext 9\n\
         s5,Anna,Smith,1990-01-01,2,1.23457E+08,5559990000\n",
    )
    .expect("write");
    let stderr = dedupe_into_out(&dir.path, "sheet.csv");
    assert!(
        stderr.contains(
            "sheet.csv: delimiter ','; columns id=(line number: the file has no id column), \
             mrn=MRN, given_name=First Name, family_name=Last Name, birth_date=Birth Date, \
             sex=Sex, national_id=SSN, phone=Phone; ignored: none"
        ),
        "{stderr}"
    );
    let lost = "\"in scientific notation, as a spreadsheet writes a long number, its last digits lost (treated as missing)\"";
    let day = "a spreadsheet's day number (read as the date it counts to)";
    assert_eq!(
        std::fs::read_to_string(dir.path.join("out/warnings.csv")).expect("warnings"),
        format!(
            "line,column,reason\n3,national_id,{lost}\n3,birth_date,{day}\n\
             5,national_id,{lost}\n5,birth_date,{day}\n6,national_id,{lost}\n"
        )
    );
    let clusters = clusters(&dir.path.join("out/clusters.csv"));
    assert_eq!(clusters.len(), 5, "{clusters:?}");
    assert_eq!(clusters["3"], clusters["2"], "{clusters:?}");
    assert_eq!(clusters["5"], clusters["4"], "{clusters:?}");
    assert_ne!(clusters["4"], clusters["2"], "{clusters:?}");
    assert_ne!(clusters["6"], clusters["2"], "{clusters:?}");

    // mpi import keeps the ids it stores: a file without one is still refused there.
    let out = run_mpi(
        &dir.path,
        &[
            "import",
            "sheet.csv",
            "--database-url",
            "sqlite://mpi.db?mode=rwc",
        ],
    );
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("sheet.csv:1: header: no id column"),
        "{out:?}"
    );
}

/// A clinic's file of a few records: EM, fitted to so few candidate pairs, settles on "no pair
/// is a match"; the job says so and scores with the built-in model instead of finding nothing.
#[test]
fn a_file_too_small_to_fit_is_scored_by_the_builtin_model() {
    let dir = ScratchDir::new();
    std::fs::write(
        dir.path.join("clinic.csv"),
        "MRN,First Name,Last Name,DOB,Sex,Zip\n\
         1,John,Smith,25-MAY-1989,M,02143\n\
         2,Jon,Smith,25-May-89,Male,02143\n\
         3,Mary,Jones,1989-05-25T00:00:00Z,F,2143\n\
         4,Mary,Jones,May 25 1989,Female,02143-1234\n\
         5,Ann,Lee,05.25.1989,f,02143\n\
         6,Ann,Lee,\"May 25, 1989\",F,02143\n\
         7,Bob,Ray,19890525,U,02143\n\
         8,Bob,Ray,5/25/1989 12:00:00 AM,M,02143\n\
         9,Al,Ray,1989-5-25,M,02143\n\
         10,Al,Ray,25 May 1989,M,02143\n",
    )
    .expect("write");
    let out = run_mpi(
        &dir.path,
        &["dedupe", "--input", "clinic.csv", "--output", "out"],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        stdout.contains("model: builtin-") && stdout.contains("the fit found no match among the"),
        "{stdout}"
    );
    let clusters = clusters(&dir.path.join("out/clusters.csv"));
    assert_eq!(clusters.len(), 10, "{clusters:?}");
    for (a, b) in [("2", "3"), ("4", "5"), ("6", "7"), ("8", "9")] {
        assert_eq!(clusters[a], clusters[b], "{a} {b}: {clusters:?}");
    }
    for (a, b) in [("2", "4"), ("4", "6"), ("8", "10")] {
        assert_ne!(clusters[a], clusters[b], "{a} {b}: {clusters:?}");
    }
    // `mpi train` does not write a model that would call every pair a non-match.
    let out = run_mpi(
        &dir.path,
        &["train", "--input", "clinic.csv", "--output", "model.json"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("the fit found no match among the") && stderr.contains("not written"),
        "{stderr}"
    );
    assert!(!dir.path.join("model.json").exists());
}

/// Text as UTF-16 code units, little-endian (`le`) or big-endian, with or without a byte-order
/// mark: written here with the standard library, not with the reader's decoder.
fn utf16(text: &str, le: bool, bom: bool) -> Vec<u8> {
    let units = bom.then_some(0xFEFF).into_iter().chain(text.encode_utf16());
    units
        .flat_map(|u| if le { u.to_le_bytes() } else { u.to_be_bytes() })
        .collect()
}

/// A spreadsheet saved as "Unicode Text" (UTF-16 little-endian with a byte-order mark, tabs,
/// CRLF), as Excel, SQL Server and Windows PowerShell write it: read as the text it is, names
/// with diacritics and all, its truth file too, and no field reported as damaged.
#[test]
fn a_utf16_export_is_read_as_the_text_it_is() {
    let dir = ScratchDir::new();
    let rows = "Patient ID\tFirst Name\tLast Name\tDate of Birth\tSex\tZip\tPhone\r\n\
                u1\tZo\u{eb}\tM\u{fc}ller-L\u{fc}denscheidt\t1984-07-02\tF\t10115\t030 5550 1234\r\n\
                u2\tZoe\tMuller-Ludenscheidt\t1984-07-02\tF\t10115\t030 5550 1234\r\n\
                u3\tNguy\u{1ec5}n\tV\u{103}n An\t1979-11-23\tM\t70173\t0711 555 0199\r\n\
                u4\tNguyen\tVan An\t1979-11-23\tM\t70173\t0711 555 0199\r\n\
                u5\tMargarethe\tSchr\u{f6}der\t1950-03-14\tF\t80331\t089 555 0777\r\n";
    std::fs::write(dir.path.join("export.txt"), utf16(rows, true, true)).expect("write");
    std::fs::write(
        dir.path.join("truth.txt"),
        utf16(
            "Patient ID\tperson\r\nu1\tZ\r\nu2\tZ\r\nu3\tN\r\nu4\tN\r\nu5\tS\r\n",
            true,
            true,
        ),
    )
    .expect("write truth");
    let stderr = dedupe_into_out(&dir.path, "export.txt");
    assert!(
        stderr.contains(
            "export.txt: delimiter tab; columns id=Patient ID, given_name=First Name, \
             family_name=Last Name, birth_date=Date of Birth, sex=Sex, postal_code=Zip, phone=Phone; \
             ignored: none"
        ),
        "{stderr}"
    );
    let warnings = std::fs::read_to_string(dir.path.join("out/warnings.csv")).expect("warnings");
    assert_eq!(warnings, "line,column,reason\n");
    let clusters = clusters(&dir.path.join("out/clusters.csv"));
    assert_eq!(clusters.len(), 5, "{clusters:?}");
    assert_eq!(clusters["u2"], clusters["u1"], "{clusters:?}");
    assert_eq!(clusters["u4"], clusters["u3"], "{clusters:?}");
    assert_ne!(clusters["u3"], clusters["u1"], "{clusters:?}");
    assert_ne!(clusters["u5"], clusters["u1"], "{clusters:?}");
    let m: serde_json::Value = serde_json::from_str(&run_mpi_ok(
        &dir.path,
        &[
            "eval",
            "--json",
            "--pairs",
            "out/pairs.csv",
            "--clusters",
            "out/clusters.csv",
            "--truth",
            "truth.txt",
            "--truth-column",
            "person",
        ],
    ))
    .expect("eval JSON");
    assert_eq!(m["clusters"]["pairwise"]["f1"].as_f64(), Some(1.0), "{m:#}");

    // Without a byte-order mark, and big-endian: the zero bytes of its first characters say so.
    for le in [true, false] {
        let text = utf16(
            "id,given_name,family_name\nb1,Zo\u{eb},M\u{fc}ller\n",
            le,
            false,
        );
        let mut reader =
            api::person_csv::PersonCsvReader::new(&text[..], "bare.csv", &[]).expect("header");
        let row = reader.next().expect("a row").expect("a good row");
        assert_eq!(row.id, "b1");
        assert_eq!(row.record.given_names, ["Zo\u{eb}"]);
        assert_eq!(row.record.family_names, ["M\u{fc}ller"]);
        assert!(row.warnings.is_empty(), "{:?}", row.warnings);
        assert!(reader.next().is_none());
    }
}

/// FEBRL 2 as published (`rec_id, given_name, surname, street_number, address_1, ...`, dates
/// such as `19371233` included): its headers are understood, its mistyped dates kept and
/// listed, and the clusters reach pairwise F1 0.99 against the `rec-<N>` truth.
#[test]
fn febrl_2_is_deduplicated_as_published() {
    let dir = ScratchDir::new();
    let febrl = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../data/febrl/dataset2.csv");
    let stderr = dedupe_into_out(&dir.path, febrl.to_str().expect("path"));
    assert!(
        stderr.contains(
            "columns id=rec_id, given_name, family_name=surname, street_number, \
             address_line=address_1, address_line2=address_2, city=suburb, \
             postal_code=postcode, state, birth_date=date_of_birth, national_id=soc_sec_id; \
             ignored: none"
        ),
        "{stderr}"
    );
    let warnings = std::fs::read_to_string(dir.path.join("out/warnings.csv")).expect("warnings");
    let mistyped = warnings
        .lines()
        .filter(|l| l.ends_with("birth_date,no such date (kept for a digit-by-digit comparison)"))
        .count();
    assert!(mistyped >= 5, "{warnings}");

    let clusters = clusters(&dir.path.join("out/clusters.csv"));
    assert_eq!(clusters.len(), 5000);
    let entity = |id: &str| id.split('-').nth(1).expect("rec-N").to_owned();
    let mut by_cluster: HashMap<&str, Vec<&str>> = HashMap::new();
    for (id, c) in &clusters {
        by_cluster.entry(c).or_default().push(id);
    }
    let mut by_entity: HashMap<String, Vec<&str>> = HashMap::new();
    for id in clusters.keys() {
        by_entity.entry(entity(id)).or_default().push(id);
    }
    let pairs = |groups: Vec<Vec<&str>>| -> HashSet<(String, String)> {
        let mut out = HashSet::new();
        for mut g in groups {
            g.sort_unstable();
            for i in 0..g.len() {
                for j in i + 1..g.len() {
                    out.insert((g[i].to_owned(), g[j].to_owned()));
                }
            }
        }
        out
    };
    let found = pairs(by_cluster.into_values().collect());
    let truth = pairs(by_entity.into_values().collect());
    let tp = found.intersection(&truth).count() as f64;
    let (precision, recall) = (tp / found.len() as f64, tp / truth.len() as f64);
    let f1 = 2.0 * precision * recall / (precision + recall);
    assert!(f1 >= 0.99, "precision {precision} recall {recall} F1 {f1}");
}

const PEOPLE: &str = "\
id,given_name,family_name,sex,birth_date,phone,mrn,mrn_system
p1,Ottilie,Fairweather,F,1962-08-15,01392 555 0101,MRN-1,urn:test:mrn
p2,Bad,Date,F,1990-02-30,,MRN-2,urn:test:mrn
p3,Grace,Hopper,X,1906-12-09,12,,
p4,Same,Mrn,M,1970-01-01,,MRN-1,urn:test:mrn
";

/// `mpi import --lenient` stores a record without its bad field and lists it as a warning; a
/// record the service refuses (an identifier another record holds) is still rejected.
async fn import_lenient(backend: Backend) {
    let db = TestDb::migrated(backend).await;
    let dir = ScratchDir::new();
    std::fs::write(dir.path.join("people.csv"), PEOPLE).expect("write csv");
    let args = |extra: &[&'static str]| {
        let mut v = vec![
            "import",
            "people.csv",
            "--database-url",
            db.url.as_str(),
            "--quiet",
        ];
        v.extend_from_slice(extra);
        v
    };
    let out = run_mpi_ok(&dir.path, &args(&["--lenient"]));
    assert!(
        out.contains("4 rows: 3 imported, 0 already imported, 1 rejected"),
        "{out}"
    );
    let rejects =
        std::fs::read_to_string(dir.path.join("people.csv.rejects.csv")).expect("rejects");
    let mut lines: Vec<&str> = rejects.lines().skip(1).collect();
    lines.sort_unstable();
    assert_eq!(lines.len(), 4, "{rejects}");
    assert_eq!(
        lines[..3],
        [
            "3,birth_date,warning: invalid date (stored without a birth date)",
            "4,phone,warning: fewer than 5 digits (treated as missing)",
            "4,sex,warning: invalid sex (treated as missing)",
        ],
        "{rejects}"
    );
    assert!(lines[3].starts_with("5,identifiers[0],"), "{rejects}");
    let stored = |family: &'static str| {
        let conn = &db.conn;
        async move {
            let name = patient_name::Entity::find()
                .filter(patient_name::Column::Family.eq(family))
                .one(conn)
                .await
                .unwrap()
                .expect(family);
            patient::Entity::find_by_id(name.patient_id)
                .one(conn)
                .await
                .unwrap()
                .unwrap()
        }
    };
    let bad_date = stored("Date").await;
    assert_eq!(bad_date.birth_date, None);
    let hopper = stored("Hopper").await;
    assert_eq!(hopper.gender, None);
    assert_eq!(
        hopper.birth_date.map(|d| d.to_string()).as_deref(),
        Some("1906-12-09")
    );
}
both_backends!(import_lenient);

/// `mpi gen --distinct-identifiers` writes a file `mpi import` takes whole; without the option
/// duplicates share identifiers and are refused.
async fn generated_files_import_cleanly(backend: Backend) {
    let db = TestDb::migrated(backend).await;
    let dir = ScratchDir::new();
    for (file, extra) in [
        ("plain.csv", None),
        ("distinct.csv", Some("--distinct-identifiers")),
    ] {
        let mut args = vec![
            "gen",
            "--records",
            "3000",
            "--seed",
            "5",
            "--output",
            file,
            "--quiet",
        ];
        args.extend(extra);
        run_mpi_ok(&dir.path, &args);
    }
    let url = db.url.as_str();
    let out = run_mpi_ok(
        &dir.path,
        &["import", "distinct.csv", "--database-url", url, "--quiet"],
    );
    assert!(
        out.contains("3000 rows: 3000 imported, 0 already imported, 0 rejected"),
        "{out}"
    );
    let out = run_mpi_ok(
        &dir.path,
        &[
            "import",
            "plain.csv",
            "--database-url",
            url,
            "--quiet",
            "--dry-run",
            "--source",
            "p",
        ],
    );
    assert!(!out.contains(" 0 rejected"), "{out}");
}
both_backends!(generated_files_import_cleanly);
