//! OpenHIE Client Registry test steps (the HL7 v2 edition, as SanteMPI's
//! `hl7-testing-tool` sends them, verbatim but for the dates) through the real server on both
//! databases, sent and parsed by the independent `hl7` package: a padded MSH-12 (05-30, 09-40,
//! 16-50), a record's demographics answered back in PID-6, PID-13 to PID-16 (08-10, 08-30), a
//! newborn known by its mother's identifier answered and found by her own record's name (07-10
//! to 07-40, 13-10 to 13-30; PDQm's `mothersMaidenName` too), a national id in PID-19 linking
//! two sources' records (18-20, 18-30), a misspelt name found phonetically (12-60), and an
//! unknown domain named in the refusal.

use migration::testing::Backend;
use serde_json::{Value, json};

use crate::both_backends;
use crate::hl7_mllp::{Hl7Server, send_with_hl7_package};

/// An OpenHIE test message: its MSH (sender `app`, type, control id, version as the harness
/// writes them) and segments, separated by CR.
fn ohie(app: &str, kind: &str, control_id: &str, version: &str, rest: &[&str]) -> String {
    let mut text = format!(
        "MSH|^~\\&|{app}^^|TEST^^|CR1^^|MOH_CAAT^^|20141104174451|TEST_HARNESS+TEST_HARNESS|{kind}|{control_id}|P|{version}\r"
    );
    for segment in rest {
        text.push_str(segment);
        text.push('\r');
    }
    text
}

/// A PDQ query (QBP^Q22) of the harness with QPD-3 `params`.
fn pdq(control_id: &str, params: &str) -> String {
    ohie(
        "TEST_HARNESS",
        "QBP^Q22^QBP_Q21",
        control_id,
        "2.5",
        &[
            &format!("QPD|Q22^Find Candidates^HL7|{control_id}|{params}"),
            "RCP|I|10^RD",
        ],
    )
}

/// The segments of an answer named `name`, each split into its fields (`[0]` the name).
fn segments(answer: &Value, name: &str) -> Vec<Vec<String>> {
    answer["raw"]
        .as_str()
        .expect("raw answer")
        .split('\r')
        .filter(|s| s.starts_with(&format!("{name}|")))
        .map(|s| s.split('|').map(str::to_owned).collect())
        .collect()
}

/// Component `n` (1-based) of a field's first repetition.
fn component(field: &str, n: usize) -> &str {
    field
        .split('~')
        .next()
        .unwrap_or_default()
        .split('^')
        .nth(n - 1)
        .unwrap_or_default()
}

/// Field `n` of the only PID of an answer.
fn only_pid(answer: &Value) -> Vec<String> {
    let pids = segments(answer, "PID");
    assert_eq!(pids.len(), 1, "{answer}");
    let mut pid = pids.into_iter().next().unwrap_or_default();
    pid.resize(31, String::new());
    pid
}

/// OHIE CR 07-10 and 13-10: Jennifer Jones, the mother.
const JENNIFER: &str = "PID|||RJ-439^^^TEST||JONES^JENNIFER^^^^^L|SMITH^^^^^^L|19840125|F|||123 Main Street West ^^NEWARK^NJ^30293||^PRN^PH^^^409^30495||||||";

/// OHIE CR 08-10 and 08-30, and a padded MSH-12 (05-30, 09-40, 16-50), and B6: an unknown
/// domain named in ERR-8.
async fn demographics_come_back_as_sent(backend: Backend) {
    let app = Hl7Server::start(backend, &[]).await;
    let fanny = "PID|||RJ-442^^^TEST||FOSTER^FANNY^FULL^^^^L|FOSTER^MARY^^^^^L|1970|F|||123 W34 St^^FRESNO^CA^30495||^PRN^PH^^^419^31495|^^PH^^^034^059434|EN|S|||||";
    let messages = vec![
        ohie(
            "TEST_HARNESS",
            "ADT^A01^ADT_A01",
            "TEST-CR-08-10",
            "2.3.1",
            &["EVN||20101020", fanny, "PV1||I"],
        ),
        pdq("TEST-CR-08-30", "@PID.3.1^RJ-442~@PID.3.4.1^TEST"),
        // 09-40 and 16-50 send MSH-12 as `2.5 `.
        ohie(
            "TEST_HARNESS",
            "QBP^Q23^QBP_Q21",
            "TEST-CR-09-40",
            "2.5 ",
            &["QPD|IHE PIX Query|Q0940|RJ-442^^^TEST^PI", "RCP|I"],
        ),
        ohie(
            "TEST_HARNESS",
            "QBP^Q23^QBP_Q21",
            "TEST-CR-16-50",
            "2.5 ",
            &["QPD|IHE PIX Query|Q1650|RJ-999^^^TEST^PI|^^^TEST", "RCP|I"],
        ),
        // An identifier in a domain nobody registered: refused, the domain named.
        ohie(
            "TEST_HARNESS",
            "ADT^A01^ADT_A01",
            "UNKNOWN-DOMAIN",
            "2.5",
            &[
                "EVN||20101020",
                "PID|||RJ-443^^^TEST~X-1^^^NOWHERE||NOBODY^KNOWN||19700101|F",
                "PV1||I",
            ],
        ),
    ];
    let answers = send_with_hl7_package(app.mllp, &messages);
    assert_eq!(answers[0]["msa1"], "AA", "{}", answers[0]);

    // 08-30: what was sent comes back, field by field.
    let a = &answers[1];
    assert_eq!(a["msa1"], "AA", "{a}");
    let pid = only_pid(a);
    assert_eq!(component(&pid[3], 1), "RJ-442", "{pid:?}");
    assert_eq!(component(&pid[5], 1), "FOSTER");
    assert_eq!(component(&pid[5], 2), "FANNY");
    assert_eq!(component(&pid[5], 3), "FULL");
    assert_eq!(component(&pid[5], 7), "L");
    assert_eq!(component(&pid[6], 1), "FOSTER", "{pid:?}");
    assert_eq!(component(&pid[6], 2), "MARY");
    assert_eq!(component(&pid[6], 7), "L", "{pid:?}");
    assert_eq!(pid[7], "1970");
    assert_eq!(pid[8], "F");
    assert_eq!(component(&pid[11], 1), "123 W34 St");
    assert_eq!(component(&pid[11], 3), "FRESNO");
    assert_eq!(component(&pid[11], 4), "CA");
    assert_eq!(component(&pid[11], 5), "30495");
    // The home phone in PID-13 with its area code and local number apart ...
    assert_eq!(component(&pid[13], 2), "PRN", "{pid:?}");
    assert_eq!(component(&pid[13], 3), "PH");
    assert_eq!(component(&pid[13], 6), "419", "{pid:?}");
    assert_eq!(component(&pid[13], 7), "31495");
    assert!(!pid[13].contains('~'), "one home phone: {pid:?}");
    // ... the business phone in PID-14, its leading zeros kept ...
    assert_eq!(component(&pid[14], 2), "WPN", "{pid:?}");
    assert_eq!(component(&pid[14], 3), "PH");
    assert_eq!(component(&pid[14], 6), "034");
    assert_eq!(component(&pid[14], 7), "059434");
    // ... the primary language (a BCP 47 tag: `EN` is `en`), the marital status.
    assert_eq!(component(&pid[15], 1), "en", "{pid:?}");
    assert_eq!(pid[16], "S");

    // A padded version is version 2.5: MSH-12 `2.5`, no MSA-3, ERR in its v2.5 form. (The
    // PIX answer leaves the queried identifier out, as ITI-9 says, where 09-40 expects it.)
    let a = &answers[2];
    assert_eq!(a["msa1"], "AA", "{a}");
    assert_eq!(a["msh12"], "2.5", "{a}");
    let a = &answers[3];
    assert_eq!(a["msa1"], "AE", "{a}");
    assert_eq!(a["msh12"], "2.5", "{a}");
    let msa = segments(a, "MSA").remove(0);
    assert_eq!(msa.len(), 3, "no MSA-3 in v2.5: {msa:?}");
    let err = &a["err"][0];
    assert_eq!(err[0], "", "no ERR-1 in v2.5: {a}");
    assert_eq!(err[1], "QPD^1^3^1^1", "{a}");
    assert!(err[2].as_str().unwrap().starts_with("204^"), "{a}");

    // The unknown domain is named in ERR-8 (the identifier's value is not).
    let a = &answers[4];
    assert_eq!(a["msa1"], "AE", "{a}");
    let text = a["err"][0][7].as_str().unwrap_or_default();
    assert!(
        text.contains("\"NOWHERE\" is not a registered identifier domain"),
        "{a}"
    );
    assert!(!text.contains("X-1"), "{a}");
}
both_backends!(demographics_come_back_as_sent);

/// OHIE CR 07-10 to 07-40 and 13-10 to 13-30: a newborn known by its mother's identifier only
/// is answered with her name in PID-6 and found by it; PDQm's `mothersMaidenName` finds it too,
/// and a child whose mother is a `MTH` RelatedPerson by that person's name.
async fn a_newborn_is_known_by_its_mothers_own_name(backend: Backend) {
    let app = Hl7Server::start(backend, &[]).await;
    let key = app.admin_key();
    let messages = vec![
        ohie(
            "TEST_HARNESS",
            "ADT^A01^ADT_A01",
            "TEST-CR-07-10",
            "2.3.1",
            &["EVN||20101020", JENNIFER, "PV1||I"],
        ),
        ohie(
            "TEST_HARNESS",
            "ADT^A01^ADT_A01",
            "TEST-CR-07-20",
            "2.3.1",
            &[
                "EVN||20101020",
                "PID|||RJ-440^^^TEST||||20141001|M|||||||||||||RJ-439^^^TEST",
                "PV1||I",
            ],
        ),
        pdq("TEST-CR-07-40", "@PID.3.1^RJ-440~@PID.3.4.1^TEST"),
        pdq("TEST-CR-13-20", "@PID.21.1^RJ-439~@PID.21.4.1^TEST"),
        pdq("TEST-CR-13-30", "@PID.6.1^JONES~@PID.6.2^JENNIFER"),
        // Her own mother's maiden name (SMITH) is no name of hers.
        pdq("MOTHER-GIVEN", "@PID.6.1^JONES~@PID.6.2^MARY"),
    ];
    let answers = send_with_hl7_package(app.mllp, &messages);
    assert_eq!(answers[0]["msa1"], "AA", "{}", answers[0]);
    assert_eq!(answers[1]["msa1"], "AA", "{}", answers[1]);

    // 07-40: the infant, with its mother's name (her legal name, from her record) in PID-6.
    let pid = only_pid(&answers[2]);
    assert_eq!(component(&pid[3], 1), "RJ-440", "{pid:?}");
    assert_eq!(component(&pid[6], 1), "JONES", "{pid:?}");
    assert_eq!(component(&pid[6], 2), "JENNIFER", "{pid:?}");
    assert_eq!(component(&pid[6], 7), "L", "{pid:?}");
    assert_eq!(component(&pid[21], 1), "RJ-439", "{pid:?}");
    // 13-20 and 13-30: found by the mother's identifier, and by her name.
    for a in &answers[3..5] {
        assert_eq!(a["msa1"], "AA", "{a}");
        assert_eq!(component(&only_pid(a)[3], 1), "RJ-440", "{a}");
    }
    assert_eq!(segments(&answers[5], "QAK")[0][2], "NF", "{}", answers[5]);

    // PDQm: `mothersMaidenName` finds the child through its mother's record too.
    let (status, bundle) = app
        .server
        .call(
            "GET",
            "/fhir/Patient?mothersMaidenName=jones",
            Some(&key),
            &[],
            None,
        )
        .await;
    assert_eq!(status, 200, "{bundle}");
    assert_eq!(bundle["total"], 1, "{bundle}");
    assert_eq!(
        bundle["entry"][0]["resource"]["birthDate"], "2014-10-01",
        "{bundle}"
    );

    // A child whose mother is known only as a `MTH` RelatedPerson: found by her names.
    let fhir_json = [("Content-Type", "application/fhir+json")];
    let (status, child) = app
        .server
        .call(
            "POST",
            "/fhir/Patient",
            Some(&key),
            &fhir_json,
            Some(&json!({"resourceType": "Patient",
                "identifier": [{"system": "http://ohie.org/test/test", "value": "FHR-050"}],
                "name": [{"use": "usual", "given": ["WIN MINH"]}],
                "gender": "male", "birthDate": "2017-04-03"})),
        )
        .await;
    assert_eq!(status, 201, "{child}");
    let child_id = child["id"].as_str().expect("id").to_owned();
    let (status, mother) = app
        .server
        .call(
            "POST",
            "/fhir/RelatedPerson",
            Some(&key),
            &fhir_json,
            Some(&json!({"resourceType": "RelatedPerson",
                "patient": {"reference": format!("Patient/{child_id}")},
                "relationship": [{"coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode",
                    "code": "MTH"}]}],
                "name": [{"use": "usual", "family": "Lwin", "given": ["Su", "Myat"]}],
                "gender": "female"})),
        )
        .await;
    assert_eq!(status, 201, "{mother}");
    for (query, hits) in [
        ("mothersMaidenName=LWIN", 1),
        ("mothersMaidenName:exact=Lwin", 1),
        ("mothersMaidenName=Myat", 0),
    ] {
        let (status, bundle) = app
            .server
            .call(
                "GET",
                &format!("/fhir/Patient?{query}"),
                Some(&key),
                &[],
                None,
            )
            .await;
        assert_eq!(status, 200, "{query}: {bundle}");
        assert_eq!(bundle["total"], hits, "{query}: {bundle}");
        if hits == 1 {
            assert_eq!(bundle["entry"][0]["resource"]["id"], child_id.as_str());
        }
    }
    let answers = send_with_hl7_package(
        app.mllp,
        &[pdq("BY-RP-NAME", "@PID.6.1^LWIN~@PID.6.2^MYAT")],
    );
    assert_eq!(
        component(&only_pid(&answers[0])[3], 1),
        "FHR-050",
        "{}",
        answers[0]
    );
}
both_backends!(a_newborn_is_known_by_its_mothers_own_name);

/// OHIE CR 18-20 and 18-30: two sources register one man, each under its own identifier,
/// with the same national id in PID-19 (`NID-000345439^^^NID`, a links-records domain): the
/// records are linked, so a PIX query by one source's identifier answers the other's. And
/// 12-60: a name spelt as it sounds is found phonetically when no record starts with it.
async fn pid_19_links_and_misspelt_names_are_found(backend: Backend) {
    let app = Hl7Server::start(backend, &[]).await;
    let messages = vec![
        ohie(
            "TEST_HARNESS_A",
            "ADT^A01^ADT_A01",
            "TEST-CR-18-20",
            "2.3.1",
            &[
                "EVN||20141001",
                "PID|||RJ-460^^^TEST_A||JONES^YANNICK^^^^^L||199004|M|||||||||||NID-000345439^^^NID",
                "PV1||I",
            ],
        ),
        ohie(
            "TEST_HARNESS_B",
            "ADT^A01^ADT_A01",
            "TEST-CR-18-30",
            "2.3.1",
            &[
                "EVN||20141001",
                "PID|||RB-469^^^TEST_B||JONES^YAN^^^^^L||19900404|M|||||||||||NID-000345439^^^NID",
                "PV1||I",
            ],
        ),
        ohie(
            "TEST_HARNESS_A",
            "QBP^Q23^QBP_Q21",
            "PIX-A",
            "2.5",
            &["QPD|IHE PIX Query|Q1840|RJ-460^^^TEST_A^PI", "RCP|I"],
        ),
        ohie(
            "TEST_HARNESS",
            "ADT^A01^ADT_A01",
            "TEST-CR-12-10",
            "2.3.1",
            &["EVN||20101020", JENNIFER, "PV1||I"],
        ),
        pdq("TEST-CR-12-60", "@PID.5.1^JONEZ~@PID.5.2^JENIPHER"),
        // A wildcard asks for names that start so, and nothing else.
        pdq("WILDCARD", "@PID.5.1^JONEZ*~@PID.5.2^JENIPHER"),
        // A prefix that finds records is answered as before.
        pdq("PREFIX", "@PID.5.1^JONES~@PID.5.2^JENN"),
        // A name with no letters, which no mode can search, is still not found, not an error.
        pdq("NO-LETTERS", "@PID.5.1^1234"),
    ];
    let answers = send_with_hl7_package(app.mllp, &messages);
    for a in &answers[..2] {
        assert_eq!(a["msa1"], "AA", "{a}");
    }
    let a = &answers[2];
    assert_eq!(a["msa1"], "AA", "{a}");
    let ids: Vec<String> = only_pid(a)[3]
        .split('~')
        .map(|r| {
            let authority = component(r, 4).split('&').next().unwrap_or_default();
            format!("{}^{authority}", component(r, 1))
        })
        .collect();
    assert!(ids.contains(&"RB-469^TEST_B".to_owned()), "{a}");
    assert!(ids.contains(&"NID-000345439^NID".to_owned()), "{a}");

    assert_eq!(answers[3]["msa1"], "AA", "{}", answers[3]);
    // 12-60: found phonetically, and the QRI says so.
    let a = &answers[4];
    assert_eq!(a["msa1"], "AA", "{a}");
    assert_eq!(segments(a, "QAK")[0][2], "OK", "{a}");
    let pid = only_pid(a);
    assert_eq!(component(&pid[5], 1), "JONES", "{a}");
    assert_eq!(component(&pid[5], 2), "JENNIFER", "{a}");
    let qri = segments(a, "QRI").remove(0);
    assert_eq!(qri[2], "NP", "{a}");
    assert_eq!(component(&qri[3], 1), "phonetic", "{a}");
    assert_eq!(segments(&answers[5], "QAK")[0][2], "NF", "{}", answers[5]);
    let a = &answers[6];
    assert_eq!(component(&only_pid(a)[5], 1), "JONES", "{a}");
    assert_eq!(component(&segments(a, "QRI")[0][3], 1), "MPI-SEARCH", "{a}");
    let a = &answers[7];
    assert_eq!(a["msa1"], "AA", "{a}");
    assert_eq!(segments(a, "QAK")[0][2], "NF", "{a}");
}
both_backends!(pid_19_links_and_misspelt_names_are_found);
