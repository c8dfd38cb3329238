//! IHE PDQm (ITI-78) Patient search through the real server (issue 31, point 4): `_id`,
//! `active`, `telecom`, the address parameters, birth-date prefixes on full and partial dates,
//! `:exact` and `:contains`, comma as OR, repeated `identifier` (AND), `identifier=SYSTEM|`
//! limiting the identifiers returned, an unknown domain (404), unknown modifiers, and paging
//! links with the total. Every resource received is parsed by the independent
//! `fhir.resources` models.

use migration::testing::Backend;
use serde_json::{Value, json};

use crate::app::TestApp;
use crate::both_backends;
use crate::fhir::{Answer, Fhir, fhir_person, id_of};

const TEST_URL: &str = "http://ohie.org/test/test";
const NID_URL: &str = "http://ohie.org/test/nid";

/// A query value as a URL writes it.
fn enc(text: &str) -> String {
    text.replace('%', "%25")
        .replace('|', "%7C")
        .replace(':', "%3A")
        .replace('/', "%2F")
        .replace(' ', "%20")
        .replace('+', "%2B")
        .replace(',', "%2C")
}

async fn add_domains(app: &TestApp) {
    for body in [
        json!({"name": "TEST", "oid": "2.16.840.1.113883.3.72.5.9.1", "url": TEST_URL}),
        json!({"name": "NID", "oid": "2.16.840.1.113883.3.72.5.9.9", "url": NID_URL}),
    ] {
        let (status, answer) = app.admin("POST", "/api/v1/domains", Some(&body)).await;
        assert_eq!(status, 201, "{answer}");
    }
}

/// `GET /fhir/Patient?{query}`, asserting 200; the ids found, sorted, and the Bundle.
async fn found(fhir: &Fhir<'_>, query: &str) -> (Vec<String>, Value) {
    let answer = fhir.get(&format!("/Patient?{query}")).await;
    assert_eq!(answer.status, 200, "{query}: {}", answer.body);
    assert_eq!(answer.body["type"], "searchset", "{query}");
    let mut ids: Vec<String> = answer.body["entry"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|e| id_of(&e["resource"]))
        .collect();
    ids.sort();
    (ids, answer.body)
}

fn sorted(ids: &[&String]) -> Vec<String> {
    let mut v: Vec<String> = ids.iter().map(|s| (*s).clone()).collect();
    v.sort();
    v
}

fn link(bundle: &Value, relation: &str) -> Option<String> {
    bundle["link"]
        .as_array()?
        .iter()
        .find(|l| l["relation"] == relation)
        .and_then(|l| l["url"].as_str())
        .map(str::to_owned)
}

fn assert_outcome(answer: &Answer, status: u16) {
    assert_eq!(answer.status, status, "{}", answer.body);
    assert_eq!(
        answer.body["resourceType"], "OperationOutcome",
        "{}",
        answer.body
    );
}

async fn pdqm_search_parameters_modifiers_and_domains(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    add_domains(&app).await;
    let fhir = Fhir::new(&app);

    let mut one = fhir_person("Achterberg", "Wilhelmina", "1958-09-30", "unused");
    one["identifier"] =
        json!([{"system": TEST_URL, "value": "T-1"}, {"system": NID_URL, "value": "N-1"}]);
    one["telecom"] = json!([{"system": "phone", "value": "01392 555 0101"}]);
    let one = id_of(&fhir.create(&one).await);

    let mut two = fhir_person("Achterberg", "Joost", "1961-01-12", "unused");
    two["identifier"] = json!([{"system": TEST_URL, "value": "T-2"}]);
    two["telecom"] = json!([{"system": "email", "value": "joost@example.org"}]);
    two["address"] = json!([{"line": ["3 Quay Street"], "city": "Truro", "state": "Cornwall",
        "postalCode": "TR1 2AB", "country": "GB"}]);
    let two = id_of(&fhir.create(&two).await);

    // A partial birth date: only the year is known.
    let mut three = fhir_person("Achterbergh", "Anna", "1961", "unused");
    three["identifier"] = json!([{"system": TEST_URL, "value": "T-3"}]);
    three["telecom"] = json!([{"system": "phone", "value": "+31 20 555 0303"}]);
    three["address"] = json!([{"line": ["Keizersgracht 1"], "city": "Amsterdam",
        "postalCode": "1015 CJ", "country": "NL"}]);
    let three = id_of(&fhir.create(&three).await);
    let all = sorted(&[&one, &two, &three]);

    // _id, with a comma as OR; an id that is no UUID finds nothing.
    assert_eq!(
        found(&fhir, &format!("_id={one},{two}")).await.0,
        sorted(&[&one, &two])
    );
    assert!(found(&fhir, "_id=not-a-uuid").await.0.is_empty());
    assert_eq!(found(&fhir, "active=true&family=Achterberg").await.0, all);
    assert!(
        found(&fhir, "active=false&family=Achterberg")
            .await
            .0
            .is_empty()
    );

    // Strings: prefix ignoring case by default, :exact, :contains, comma as OR.
    assert_eq!(found(&fhir, "family=achterberg").await.0, all);
    assert_eq!(
        found(&fhir, "family:exact=Achterberg").await.0,
        sorted(&[&one, &two])
    );
    assert!(found(&fhir, "family:exact=achterberg").await.0.is_empty());
    assert_eq!(found(&fhir, "family:contains=TERB").await.0, all);
    assert_eq!(
        found(&fhir, "given=Wil,Joo&family=Achter").await.0,
        sorted(&[&one, &two])
    );
    assert_eq!(found(&fhir, "given:exact=Anna").await.0, sorted(&[&three]));
    assert!(found(&fhir, "given:exact=anna").await.0.is_empty());
    assert_eq!(found(&fhir, "name:contains=helm").await.0, sorted(&[&one]));

    // Telecom (token, exact; system|value), address parts.
    assert_eq!(
        found(&fhir, &format!("telecom={}", enc("phone|01392 555 0101")))
            .await
            .0,
        sorted(&[&one])
    );
    assert!(
        found(&fhir, &format!("telecom={}", enc("email|01392 555 0101")))
            .await
            .0
            .is_empty()
    );
    assert_eq!(
        found(
            &fhir,
            &format!("telecom={}", enc("joost@example.org,+31 20 555 0303"))
        )
        .await
        .0,
        sorted(&[&two, &three])
    );
    // phone and email (R4's individual-phone and individual-email): a phone by its digits, an
    // email by its value, neither found in the other's system.
    assert_eq!(
        found(&fhir, &format!("phone={}", enc("(01392) 5550101")))
            .await
            .0,
        sorted(&[&one])
    );
    assert_eq!(
        found(
            &fhir,
            &format!("phone={}", enc("013925550101,+31205550303"))
        )
        .await
        .0,
        sorted(&[&one, &three])
    );
    assert!(found(&fhir, "phone=5550101").await.0.is_empty());
    assert_eq!(
        found(&fhir, &format!("email={}", enc("joost@example.org")))
            .await
            .0,
        sorted(&[&two])
    );
    assert!(
        found(&fhir, &format!("email={}", enc("01392 555 0101")))
            .await
            .0
            .is_empty()
    );
    assert!(
        found(&fhir, &format!("phone={}", enc("joost@example.org")))
            .await
            .0
            .is_empty()
    );
    assert_eq!(found(&fhir, "address=truro").await.0, sorted(&[&two]));
    assert_eq!(found(&fhir, "address=Keizers").await.0, sorted(&[&three]));
    assert_eq!(
        found(&fhir, "address:contains=orchard").await.0,
        sorted(&[&one])
    );
    assert_eq!(found(&fhir, "address-city=exe").await.0, sorted(&[&one]));
    assert_eq!(found(&fhir, "address-state=Corn").await.0, sorted(&[&two]));
    assert_eq!(
        found(&fhir, "address-country=NL").await.0,
        sorted(&[&three])
    );
    assert_eq!(
        found(&fhir, "address-country:exact=GB").await.0,
        sorted(&[&one, &two])
    );
    assert_eq!(
        found(&fhir, &format!("address-postalcode={}", enc("TR1")))
            .await
            .0,
        sorted(&[&two])
    );

    // Birth dates: a stored year is a period; prefixes compare periods.
    assert_eq!(
        found(&fhir, "birthdate=1961").await.0,
        sorted(&[&two, &three])
    );
    assert_eq!(found(&fhir, "birthdate=1961-01").await.0, sorted(&[&two]));
    assert_eq!(
        found(&fhir, "birthdate=eq1961-01-12").await.0,
        sorted(&[&two])
    );
    assert_eq!(found(&fhir, "birthdate=lt1960").await.0, sorted(&[&one]));
    assert_eq!(found(&fhir, "birthdate=le1961-01-12").await.0, all);
    assert_eq!(
        found(&fhir, "birthdate=ge1961-01-12").await.0,
        sorted(&[&two, &three])
    );
    assert_eq!(
        found(&fhir, "birthdate=gt1961-06").await.0,
        sorted(&[&three])
    );
    assert_eq!(
        found(&fhir, "birthdate=ne1961-01-12&family=Achter").await.0,
        sorted(&[&one, &three])
    );
    assert_eq!(
        found(&fhir, "birthdate=ge1958&birthdate=le1958-12").await.0,
        sorted(&[&one])
    );
    assert_eq!(
        found(&fhir, "birthdate=1958-09-30,1961-01-12").await.0,
        sorted(&[&one, &two])
    );
    assert!(found(&fhir, "birthdate=ap2020-01-01").await.0.is_empty());
    assert!(
        found(&fhir, "birthdate=ap1958-09-30")
            .await
            .0
            .contains(&one)
    );
    assert_eq!(
        found(&fhir, "gender=male,female&family=Achterberg").await.0,
        all
    );

    // Identifiers: repeated (AND), comma (OR), SYSTEM| limiting what is returned.
    let t1 = enc(&format!("{TEST_URL}|T-1"));
    let n1 = enc(&format!("{NID_URL}|N-1"));
    assert_eq!(
        found(&fhir, &format!("identifier={t1}&identifier={n1}"))
            .await
            .0,
        sorted(&[&one])
    );
    let n2 = enc(&format!("{NID_URL}|N-2"));
    assert!(
        found(&fhir, &format!("identifier={t1}&identifier={n2}"))
            .await
            .0
            .is_empty()
    );
    let t1_or_t2 = enc(&format!("{TEST_URL}|T-1,{TEST_URL}|T-2"));
    assert_eq!(
        found(&fhir, &format!("identifier={t1_or_t2}")).await.0,
        sorted(&[&one, &two])
    );
    let (ids, bundle) = found(
        &fhir,
        &format!("identifier={t1}&identifier={}", enc(&format!("{NID_URL}|"))),
    )
    .await;
    assert_eq!(ids, sorted(&[&one]));
    let identifiers = &bundle["entry"][0]["resource"]["identifier"];
    assert_eq!(
        identifiers.as_array().map(Vec::len),
        Some(1),
        "{identifiers}"
    );
    assert_eq!(identifiers[0]["system"], NID_URL, "{identifiers}");
    assert_eq!(identifiers[0]["value"], "N-1", "{identifiers}");
    // SYSTEM| alone: every record with an identifier in that domain.
    let (ids, _) = found(
        &fhir,
        &format!("identifier={}", enc(&format!("{NID_URL}|"))),
    )
    .await;
    assert_eq!(ids, sorted(&[&one]));
    // |VALUE: an identifier without a system, which no record here has (an empty searchset, not
    // an error); as one alternative of several it leaves the others to match.
    let (ids, bundle) = found(&fhir, &format!("identifier={}", enc("|T-1"))).await;
    assert!(ids.is_empty(), "{bundle}");
    assert_eq!(bundle["total"], 0, "{bundle}");
    assert_eq!(
        found(
            &fhir,
            &format!("identifier={}", enc(&format!("|T-1,{TEST_URL}|T-2")))
        )
        .await
        .0,
        sorted(&[&two])
    );
    let answer = fhir
        .get(&format!(
            "/Patient?identifier={}&_summary=count",
            enc("|T-1")
        ))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["total"], 0, "{}", answer.body);
    // An unknown domain: 404 OperationOutcome (with a value, or alone).
    for q in [
        "http://unknown.example/ids|X-1",
        "http://unknown.example/ids|",
    ] {
        let answer = fhir.get(&format!("/Patient?identifier={}", enc(q))).await;
        assert_outcome(&answer, 404);
    }

    // Bad criteria (under strict handling, which refuses an unknown modifier rather than
    // ignoring it): OperationOutcome, never a 5xx.
    for (q, status) in [
        ("family:fuzzy=Achterberg", 400),
        ("birthdate=xx1961", 422),
        ("birthdate=1961-13", 422),
        ("active=maybe", 422),
        ("family=Achter,", 422),
        ("telecom=pigeon%7C123", 422),
        ("_count=2&_count=3&family=Achter", 400),
    ] {
        let answer = fhir
            .raw(
                Some(service::context::Role::Registrar),
                "GET",
                &format!("/Patient?{q}"),
                &[("prefer", "handling=strict")],
                None,
            )
            .await;
        assert_outcome(&answer, status);
    }

    // Paging: total and links carry every criterion (modifiers and commas included).
    let (first, bundle) = found(&fhir, "family:contains=terb&given=W,J,A&_count=2").await;
    assert_eq!(first.len(), 2);
    assert_eq!(bundle["total"], 3, "{bundle}");
    let next = link(&bundle, "next").expect("next link");
    assert!(next.contains("family:contains=terb"), "{next}");
    let answer = fhir.get(&next).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["total"], 3, "{}", answer.body);
    assert_eq!(answer.body["entry"].as_array().map(Vec::len), Some(1));
    assert!(link(&answer.body, "next").is_none());
    assert!(link(&answer.body, "previous").is_some());
    let mut seen = first.clone();
    seen.push(id_of(&answer.body["entry"][0]["resource"]));
    seen.sort();
    assert_eq!(seen, all);

    // Unknown parameters: refused (strict) or ignored and left out of the self link (lenient).
    let strict = fhir
        .raw(
            Some(service::context::Role::Registrar),
            "GET",
            "/Patient?family=Achter&hairColour=red",
            &[("prefer", "handling=strict")],
            None,
        )
        .await;
    assert_outcome(&strict, 400);
    let lenient = fhir
        .raw(
            Some(service::context::Role::Registrar),
            "GET",
            "/Patient?family=Achter&hairColour=red&telecom=joost%40example.org",
            &[("prefer", "handling=lenient")],
            None,
        )
        .await;
    assert_eq!(lenient.status, 200, "{}", lenient.body);
    assert_eq!(lenient.body["total"], 1, "{}", lenient.body);
    let self_link = link(&lenient.body, "self").expect("self");
    assert!(!self_link.contains("hairColour"), "{self_link}");
    assert!(self_link.contains("telecom="), "{self_link}");

    // The CapabilityStatement lists the parameters.
    let metadata = fhir.raw(None, "GET", "/metadata", &[], None).await;
    let params: Vec<String> = metadata.body["rest"][0]["resource"][0]["searchParam"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|p| p["name"].as_str().map(str::to_owned))
        .collect();
    for p in [
        "_id",
        "active",
        "telecom",
        "phone",
        "email",
        "address",
        "address-city",
        "address-state",
        "address-country",
        "birthdate",
        "identifier",
    ] {
        assert!(params.iter().any(|n| n == p), "{p} missing from {params:?}");
    }
    fhir.check_all_received();
}
both_backends!(pdqm_search_parameters_modifiers_and_domains);
