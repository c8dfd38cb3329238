//! `POST /api/v1/match`: ranked candidates, limit and min_probability, and a `not_duplicate`
//! decision keeping the pair out of later matches.

use migration::testing::Backend;
use serde_json::{Value, json};
use service::context::Role;

use crate::app::{TestApp, id_of, person};
use crate::both_backends;

fn candidate_ids(answer: &Value) -> Vec<String> {
    answer["candidates"]
        .as_array()
        .expect("candidates")
        .iter()
        .map(|c| c["patient_id"].as_str().expect("patient_id").to_owned())
        .collect()
}

async fn match_ranks_candidates_with_grades_and_explanations(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let exact = app
        .register_forced(&person("Abernathy", "Clementine", "1979-04-21", "MRN-6001"))
        .await;
    let mut close = person("Abernathy", "Clementina", "1979-04-21", "MRN-6002");
    close["addresses"] = json!([]);
    close["telecoms"] = json!([]);
    let close = app.register_forced(&close).await;
    app.register_forced(&person("Quigley", "Bartholomew", "1950-12-01", "MRN-6003"))
        .await;

    let query = json!({
        "names": [{"family": "Abernathy", "given": ["Clementine"]}],
        "birth_date": "1979-04-21",
        "gender": "female",
        "addresses": [{"lines": ["12 Orchard Lane"], "postal_code": "EX4 4QJ"}]
    });
    let (status, answer) = app
        .as_role(Role::Registrar, "POST", "/api/v1/match", Some(&query))
        .await;
    assert_eq!(status, 200, "{answer}");
    let ids = candidate_ids(&answer);
    assert_eq!(ids.first(), Some(&id_of(&exact)), "{answer}");
    assert!(ids.contains(&id_of(&close)), "{answer}");
    let candidates = answer["candidates"].as_array().expect("candidates");
    let probabilities: Vec<f64> = candidates
        .iter()
        .map(|c| c["probability"].as_f64().expect("probability"))
        .collect();
    assert!(
        probabilities.windows(2).all(|w| w[0] >= w[1]),
        "{probabilities:?}"
    );
    for c in candidates {
        assert!(matches!(
            c["grade"].as_str(),
            Some("certain" | "probable" | "possible")
        ));
        assert!(c["match_weight"].is_number());
        assert!(c["person_id"].is_string());
        assert!(c["explanation"]["comparisons"].is_array());
    }

    let mut limited = query.clone();
    limited["limit"] = json!(1);
    let (_, answer) = app.admin("POST", "/api/v1/match", Some(&limited)).await;
    assert_eq!(candidate_ids(&answer), vec![id_of(&exact)]);

    let mut strict = query.clone();
    strict["min_probability"] = json!(1.0);
    let (status, answer) = app.admin("POST", "/api/v1/match", Some(&strict)).await;
    assert_eq!(status, 200, "{answer}");
    assert!(
        answer["candidates"]
            .as_array()
            .expect("candidates")
            .iter()
            .all(|c| c["probability"].as_f64() >= Some(1.0))
    );

    for (field, value) in [("limit", json!(0)), ("min_probability", json!(1.5))] {
        let mut bad = query.clone();
        bad[field] = value;
        let (status, body) = app.admin("POST", "/api/v1/match", Some(&bad)).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(body["field"], field);
    }
}
both_backends!(match_ranks_candidates_with_grades_and_explanations);

async fn not_duplicate_keeps_the_pair_out_of_later_matches(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // Twins at one address: the matcher proposes them as one person.
    let a = app
        .register_forced(&person("Delacroix", "Noemi", "2003-06-06", "MRN-7001"))
        .await;
    let b_body = person("Delacroix", "Noemie", "2003-06-06", "MRN-7002");
    let b = app.register_forced(&b_body).await;
    let (status, queue) = app
        .as_role(
            Role::Steward,
            "GET",
            "/api/v1/review-tasks?status=open",
            None,
        )
        .await;
    assert_eq!(status, 200, "{queue}");
    let task = queue["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|t| {
            let pair = [t["patient_a"].clone(), t["patient_b"].clone()];
            pair.contains(&a["id"]) && pair.contains(&b["id"])
        })
        .unwrap_or_else(|| panic!("no review task for the pair: {queue}"))
        .clone();

    let mut query = b_body.clone();
    query["patient_id"] = b["id"].clone();
    let (_, before) = app.admin("POST", "/api/v1/match", Some(&query)).await;
    assert!(candidate_ids(&before).contains(&id_of(&a)), "{before}");
    assert!(!candidate_ids(&before).contains(&id_of(&b)), "{before}");

    let (status, decided) = app
        .as_role(
            Role::Steward,
            "POST",
            &format!(
                "/api/v1/review-tasks/{}/decision",
                task["id"].as_str().expect("id")
            ),
            Some(&json!({"action": "not_duplicate", "note": "twins"})),
        )
        .await;
    assert_eq!(status, 200, "{decided}");
    assert_eq!(decided["task"]["status"], "not_duplicate");
    assert_eq!(decided["task"]["note"], "twins");

    let (_, after) = app.admin("POST", "/api/v1/match", Some(&query)).await;
    assert!(!candidate_ids(&after).contains(&id_of(&a)), "{after}");
    // Registering B's demographics again no longer opens a task for the judged pair.
    let (_, queue) = app
        .admin("GET", "/api/v1/review-tasks?status=open", None)
        .await;
    assert!(
        !queue["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|t| t["id"] == task["id"]),
        "{queue}"
    );
}
both_backends!(not_duplicate_keeps_the_pair_out_of_later_matches);

/// Two `mpi serve` processes over one PostgreSQL: a patient registered through one is found by
/// `POST /match` on the other once its periodic catch-up has read the change log.
#[tokio::test]
async fn a_second_server_catches_up_from_the_change_log() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let dir = crate::helpers::ScratchDir::new();
    let replica = crate::helpers::TestServer::start(
        &dir.path,
        &[
            "--database-url",
            &app.db.url,
            "--workers",
            "1",
            "--catch-up-interval-ms",
            "100",
        ],
    );
    let stored = app
        .register_forced(&person("Vandersloot", "Annelies", "1983-12-24", "MRN-1601"))
        .await;
    let query = json!({
        "names": [{"family": "Vandersloot", "given": ["Annelies"]}],
        "birth_date": "1983-12-24"
    });
    let key = app.key(Role::Registrar);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (status, answer) = replica
            .call("POST", "/api/v1/match", Some(key), &[], Some(&query))
            .await;
        assert_eq!(status, 200, "{answer}");
        if candidate_ids(&answer).contains(&id_of(&stored)) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the replica never saw the new patient: {answer}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
