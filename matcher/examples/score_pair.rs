//! Scores two registrations of one person with the built-in model and prints the explanation a
//! data steward would see.
//!
//! Run with `cargo run -p matcher --example score_pair`.
//!
//! The output contains names and birth dates: in a real service an explanation is patient data,
//! shown to an authorised user and never written to a log.
#![allow(clippy::print_stdout)]

use matcher::scoring::Model;
use matcher::{Address, Identifier, PersonRecord, Sex, normalize};

fn main() {
    // Two registrations as they arrive: different spelling, formats and a nickname.
    let registered = PersonRecord {
        given_names: vec!["William".into(), "James".into()],
        family_names: vec!["O'Connor".into()],
        sex: Some(Sex::Male),
        birth_date: Some("1958-11-03".into()),
        addresses: vec![Address {
            lines: vec!["27 Saint Kilda Road".into()],
            city: Some("Melbourne".into()),
            postal_code: Some("3004".into()),
            ..Default::default()
        }],
        phones: vec!["+61 3 9650 1234".into()],
        identifiers: vec![Identifier {
            system: "urn:au:medicare".into(),
            value: "2123 45670 1".into(),
        }],
        ..Default::default()
    };
    let arriving = PersonRecord {
        given_names: vec!["Bill".into()],
        family_names: vec!["OConnor".into()],
        sex: Some(Sex::Male),
        birth_date: Some("03/11/1958".into()),
        addresses: vec![Address {
            lines: vec!["27 St Kilda Rd".into()],
            city: Some("MELBOURNE".into()),
            postal_code: Some("3004".into()),
            ..Default::default()
        }],
        phones: vec!["(03) 9650-1234".into()],
        ..Default::default()
    };

    // 1. Normalize once: folding, nicknames, phonetic keys, date validation, address parsing.
    let (a, b) = (normalize(&registered), normalize(&arriving));

    // 2. Score with the shipped model (train your own with `matcher::training::train`).
    let model = Model::builtin();
    let score = model.score(&a, &b);
    let decision = model.decide(&score, &a, &b);
    println!(
        "model {}: weight {:.2}, probability {:.6}, decision {decision:?}",
        model.version(),
        score.match_weight,
        score.probability
    );

    // 3. Explain: every comparison with its level, weight and the values compared.
    let explanation = model.explain(&a, &b);
    println!("prior weight {:+.2}", explanation.prior_weight);
    for c in &explanation.comparisons {
        println!(
            "{:<12} {:<28} {:+7.2}   {} / {}",
            c.comparison, c.level, c.weight, c.left, c.right
        );
    }
    if explanation.move_adjustment > 0.0 {
        println!("moved {:+.2}", explanation.move_adjustment);
    }
    if explanation.household_cap_adjustment < 0.0 {
        println!("household cap {:+.2}", explanation.household_cap_adjustment);
    }

    // 4. The explanation serializes for an API response.
    match serde_json::to_string(&explanation) {
        Ok(json) => println!("{} bytes of JSON", json.len()),
        Err(e) => println!("cannot serialize: {e}"),
    }
}
