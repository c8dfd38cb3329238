//! `/api/v1/review-tasks`: the queue, a task side by side, and link / merge decisions.

use migration::testing::Backend;
use serde_json::{Value, json};
use service::context::Role;

use crate::app::{TestApp, id_of, person};
use crate::both_backends;

async fn open_task_for(app: &TestApp, a: &Value, b: &Value) -> Value {
    let (status, queue) = app
        .as_role(
            Role::Steward,
            "GET",
            "/api/v1/review-tasks?status=open&per_page=50",
            None,
        )
        .await;
    assert_eq!(status, 200, "{queue}");
    queue["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|t| {
            let pair = [t["patient_a"].clone(), t["patient_b"].clone()];
            pair.contains(&a["id"]) && pair.contains(&b["id"])
        })
        .unwrap_or_else(|| panic!("no open task for the pair: {queue}"))
        .clone()
}

/// Each queue row carries both records' names and birth dates as stored (not re-cased from the
/// matcher's normalized values), and the comparisons that weighed most for and against.
async fn queue_rows_show_stored_names_and_strongest_comparisons(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut first = person("Müller-Lüdenscheidt", "Zoë", "1987-04-12", "MRN-1301");
    first["names"][0]["given"] = json!(["Zoë", "Anne"]);
    let a = app.register_forced(&first).await;
    // The same person at another desk: the ASCII spelling, another birth day and phone.
    let mut second = person("Muller-Ludenscheidt", "Zoe", "1987-04-21", "MRN-1302");
    second["telecoms"] = json!([{"system": "phone", "value": "0161 496 0999", "use": "home"}]);
    let b = app.register_forced(&second).await;
    let (status, queue) = app
        .as_role(Role::Steward, "GET", "/api/v1/review-tasks", None)
        .await;
    assert_eq!(status, 200, "{queue}");
    let row = queue["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|t| {
            let pair = [t["patient_a"].clone(), t["patient_b"].clone()];
            pair.contains(&a["id"]) && pair.contains(&b["id"])
        })
        .unwrap_or_else(|| panic!("no task for the pair: {queue}"))
        .clone();
    // The task's own fields are still there (flattened).
    assert_eq!(row["status"], "open", "{row}");
    assert!(row["probability"].is_number(), "{row}");
    for side in ["a", "b"] {
        let record = &row[side];
        let stored = if record["id"] == a["id"] { &a } else { &b };
        assert_eq!(record["id"], stored["id"], "{row}");
        assert_eq!(record["name"], stored["names"][0], "names as stored: {row}");
        assert_eq!(record["birth_date"], stored["birth_date"], "{row}");
        assert_eq!(record["active"], true, "{row}");
    }
    let side_of_a = if row["a"]["id"] == a["id"] { "a" } else { "b" };
    assert_eq!(row[side_of_a]["name"]["family"], "Müller-Lüdenscheidt");
    assert_eq!(row[side_of_a]["name"]["given"], json!(["Zoë", "Anne"]));

    // Why the pair is there: the breakdown's heaviest comparisons on each side, in order.
    let breakdown: Vec<(String, f64)> = row["breakdown"]["comparisons"]
        .as_array()
        .expect("breakdown")
        .iter()
        .map(|c| {
            (
                c["comparison"].as_str().expect("comparison").to_owned(),
                c["weight"].as_f64().expect("weight"),
            )
        })
        .collect();
    let mut positive: Vec<&(String, f64)> = breakdown.iter().filter(|c| c.1 > 0.0).collect();
    positive.sort_by(|x, y| y.1.total_cmp(&x.1));
    let mut negative: Vec<&(String, f64)> = breakdown.iter().filter(|c| c.1 < 0.0).collect();
    negative.sort_by(|x, y| x.1.total_cmp(&y.1));
    let listed = |key: &str| -> Vec<(String, f64)> {
        row[key]
            .as_array()
            .unwrap_or_else(|| panic!("{key}: {row}"))
            .iter()
            .map(|c| {
                assert!(c["level"].is_string(), "{c}");
                (
                    c["comparison"].as_str().expect("comparison").to_owned(),
                    c["weight"].as_f64().expect("weight"),
                )
            })
            .collect()
    };
    let agreeing = listed("strongest_agreeing");
    let disagreeing = listed("strongest_disagreeing");
    assert!(!agreeing.is_empty(), "names agree: {row}");
    assert!(
        !disagreeing.is_empty(),
        "the birth date and phone differ: {row}"
    );
    let expected: Vec<(String, f64)> = positive.iter().take(2).map(|c| (*c).clone()).collect();
    assert_eq!(agreeing, expected, "{row}");
    let expected: Vec<(String, f64)> = negative.iter().take(2).map(|c| (*c).clone()).collect();
    assert_eq!(disagreeing, expected, "{row}");
}
both_backends!(queue_rows_show_stored_names_and_strongest_comparisons);

async fn review_queue_view_and_decisions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let a = app
        .register_forced(&person("Greenhalgh", "Winifred", "1958-10-10", "MRN-1201"))
        .await;
    let b = app
        .register_forced(&person("Greenhalgh", "Winifred", "1958-10-10", "MRN-1202"))
        .await;
    let c = app
        .register_forced(&person("Marchetti", "Luca", "1993-03-03", "MRN-1203"))
        .await;
    let d = app
        .register_forced(&person("Marchetti", "Luca", "1993-03-03", "MRN-1204"))
        .await;

    let (status, queue) = app
        .as_role(Role::Steward, "GET", "/api/v1/review-tasks", None)
        .await;
    assert_eq!(status, 200, "{queue}");
    let depth = queue["queue_depth"].as_u64().expect("queue_depth");
    assert!(depth >= 2, "{queue}");
    let scores: Vec<f64> = queue["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|t| t["probability"].as_f64().expect("probability"))
        .collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    let (_, high) = app
        .admin("GET", "/api/v1/review-tasks?min_score=1.01", None)
        .await;
    assert_eq!(high["code"], "invalid_value", "{high}");
    let (_, none) = app
        .admin("GET", "/api/v1/review-tasks?status=merged", None)
        .await;
    assert_eq!(none["total"], 0, "{none}");
    let (status, bad) = app
        .admin("GET", "/api/v1/review-tasks?status=maybe", None)
        .await;
    assert_eq!(status, 422, "{bad}");
    assert_eq!(bad["field"], "status");

    // One task side by side.
    let task = open_task_for(&app, &a, &b).await;
    let task_id = task["id"].as_str().expect("id").to_owned();
    let (status, view) = app
        .as_role(
            Role::Steward,
            "GET",
            &format!("/api/v1/review-tasks/{task_id}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["task"]["id"], json!(task_id));
    let shown = [view["a"]["id"].clone(), view["b"]["id"].clone()];
    assert!(
        shown.contains(&a["id"]) && shown.contains(&b["id"]),
        "{view}"
    );
    assert_eq!(view["a"]["names"][0]["family"], "Greenhalgh");
    assert!(
        !view["explanation"]["comparisons"]
            .as_array()
            .expect("comparisons")
            .is_empty()
    );

    // Link decision: seealso both ways.
    let (status, bad) = app
        .as_role(
            Role::Steward,
            "POST",
            &format!("/api/v1/review-tasks/{task_id}/decision"),
            Some(&json!({"action": "shrug"})),
        )
        .await;
    assert_eq!(status, 422, "{bad}");
    assert_eq!(bad["field"], "action");
    let (status, linked) = app
        .as_role(
            Role::Steward,
            "POST",
            &format!("/api/v1/review-tasks/{task_id}/decision"),
            Some(&json!({"action": "link", "note": "kept apart on purpose"})),
        )
        .await;
    assert_eq!(status, 200, "{linked}");
    assert_eq!(linked["task"]["status"], "linked");
    assert_eq!(linked["task"]["decided_by"], "steward");
    assert!(!linked["links"].as_array().expect("links").is_empty());
    let (status, twice) = app
        .as_role(
            Role::Steward,
            "POST",
            &format!("/api/v1/review-tasks/{task_id}/decision"),
            Some(&json!({"action": "not_duplicate"})),
        )
        .await;
    assert_eq!(status, 409, "{twice}");

    // Merge decision with a chosen survivor.
    let task = open_task_for(&app, &c, &d).await;
    let (status, merged) = app
        .as_role(
            Role::Steward,
            "POST",
            &format!(
                "/api/v1/review-tasks/{}/decision",
                task["id"].as_str().expect("id")
            ),
            Some(&json!({"action": "merge", "target": id_of(&d), "note": "same person"})),
        )
        .await;
    assert_eq!(status, 200, "{merged}");
    assert_eq!(merged["task"]["status"], "merged");
    assert!(merged["merge"]["merge_id"].is_string(), "{merged}");
    assert_eq!(merged["merge"]["target"]["id"], d["id"]);
    let (_, retired) = app
        .admin("GET", &format!("/api/v1/patients/{}", id_of(&c)), None)
        .await;
    assert_eq!(retired["replaced_by"], d["id"]);
    let (status, _) = app
        .admin(
            "GET",
            &format!("/api/v1/review-tasks/{}", uuid::Uuid::new_v4()),
            None,
        )
        .await;
    assert_eq!(status, 404);
}
both_backends!(review_queue_view_and_decisions);

async fn queue_filters_by_date_opened(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let a = app
        .register_forced(&person("Greenhalgh", "Winifred", "1958-10-10", "MRN-1301"))
        .await;
    let b = app
        .register_forced(&person("Greenhalgh", "Winifred", "1958-10-10", "MRN-1302"))
        .await;
    let task = open_task_for(&app, &a, &b).await;
    let opened = task["created_at"].as_str().expect("created_at").to_owned();
    let since = |from: &str| format!("/api/v1/review-tasks?from={}", from.replace('+', "%2B"));
    let (status, found) = app
        .as_role(Role::Steward, "GET", &since(&opened), None)
        .await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["total"], 1, "from is inclusive: {found}");
    let (_, none) = app
        .as_role(
            Role::Steward,
            "GET",
            &format!("/api/v1/review-tasks?to={}", opened),
            None,
        )
        .await;
    assert_eq!(none["total"], 0, "to is exclusive: {none}");
    let (_, later) = app
        .as_role(
            Role::Steward,
            "GET",
            &since("2999-01-01T00:00:00+01:00"),
            None,
        )
        .await;
    assert_eq!(later["total"], 0);
    assert_eq!(later["queue_depth"], 1, "the depth counts the whole queue");
    let (status, bad) = app
        .as_role(
            Role::Steward,
            "GET",
            "/api/v1/review-tasks?from=yesterday",
            None,
        )
        .await;
    assert_eq!(status, 400, "{bad}");
    assert_eq!(bad["code"], "invalid_query");
    let (status, bad) = app
        .as_role(
            Role::Steward,
            "GET",
            "/api/v1/review-tasks?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z",
            None,
        )
        .await;
    assert_eq!(status, 422, "{bad}");
    assert_eq!(bad["field"], "from");
}
both_backends!(queue_filters_by_date_opened);
