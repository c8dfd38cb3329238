//! Golden pairs scored with the built-in model: each pair's decision, weight and comparison levels
//! are pinned as text through one `check` helper (`UPDATE_EXPECT=1 cargo test` rewrites them after
//! a deliberate model change), and each case also asserts the decision it must keep.

use expect_test::{Expect, expect};
use matcher::scoring::{MatchDecision, Model};
use matcher::{Address, Identifier, PersonRecord, Sex, normalize};

#[derive(Clone, Default)]
struct P {
    given: &'static str,
    family: &'static str,
    former: Option<&'static str>,
    sex: Option<Sex>,
    dob: Option<&'static str>,
    line: Option<&'static str>,
    postcode: Option<&'static str>,
    city: Option<&'static str>,
    phone: Option<&'static str>,
    id: Option<&'static str>,
}

impl P {
    fn record(&self) -> PersonRecord {
        PersonRecord {
            given_names: (!self.given.is_empty())
                .then(|| self.given.to_owned())
                .into_iter()
                .collect(),
            family_names: [Some(self.family), self.former]
                .into_iter()
                .flatten()
                .filter(|f| !f.is_empty())
                .map(str::to_owned)
                .collect(),
            sex: self.sex,
            birth_date: self.dob.map(str::to_owned),
            addresses: if self.line.is_some() || self.postcode.is_some() || self.city.is_some() {
                vec![Address {
                    lines: self.line.map(str::to_owned).into_iter().collect(),
                    city: self.city.map(str::to_owned),
                    postal_code: self.postcode.map(str::to_owned),
                    ..Default::default()
                }]
            } else {
                Vec::new()
            },
            phones: self.phone.map(str::to_owned).into_iter().collect(),
            identifiers: self
                .id
                .map(|v| Identifier {
                    system: "urn:oid:national-id".into(),
                    value: v.to_owned(),
                })
                .into_iter()
                .collect(),
            ..Default::default()
        }
    }
}

/// Scores `a` against `b`, asserts the decision zone and compares the rendered explanation.
fn check(a: &P, b: &P, decision: MatchDecision, expect: Expect) {
    let model = Model::builtin();
    let (a, b) = (normalize(&a.record()), normalize(&b.record()));
    let e = model.explain(&a, &b);
    let score = model.score(&a, &b);
    assert_eq!(score.match_weight, e.match_weight);
    assert_eq!(
        model.score(&b, &a).match_weight,
        score.match_weight,
        "symmetric"
    );
    let mut text = format!("{:?} weight {:.1}\n", e.decision, e.match_weight);
    for c in e.comparisons.iter().filter(|c| c.level != "missing") {
        text.push_str(&format!("{} {} {:+.1}\n", c.comparison, c.level, c.weight));
    }
    if e.move_adjustment >= 0.05 {
        text.push_str(&format!("moved {:+.1}\n", e.move_adjustment));
    }
    expect.assert_eq(&text);
    assert_eq!(e.decision, decision);
}

fn base() -> P {
    P {
        given: "Margaret",
        family: "Whitfield",
        sex: Some(Sex::Female),
        dob: Some("1961-04-12"),
        line: Some("14 Kent Street"),
        postcode: Some("2600"),
        city: Some("Canberra"),
        phone: Some("02 6123 4567"),
        id: Some("4455667"),
        ..P::default()
    }
}

#[test]
fn identical_records_are_certain() {
    check(
        &base(),
        &base(),
        MatchDecision::Certain,
        expect![[r#"
            Certain weight 21.3
            given_name exact +4.1
            family_name exact +4.9
            birth_date exact +4.9
            sex agree +1.0
            identifier exact +10.9
            address exact +6.2
            city exact +4.1
            phone exact +7.1
        "#]],
    );
}

#[test]
fn nickname_typo_and_reformatted_fields_are_certain() {
    let b = P {
        given: "Peggy",
        family: "Whitfeld",
        dob: Some("12/04/1961"),
        line: Some("14 kent st"),
        phone: Some("(02) 6123-4567"),
        id: None,
        ..base()
    };
    check(
        &base(),
        &b,
        MatchDecision::Certain,
        expect![[r#"
        Certain weight 13.5
        given_name nickname +3.3
        family_name phonetic +1.6
        birth_date exact +8.8
        sex agree +1.0
        address exact +6.2
        city exact +4.1
        phone exact +7.1
    "#]],
    );
}

#[test]
fn mover_with_same_identity_is_certain() {
    let b = P {
        line: Some("3 Ocean Parade"),
        postcode: Some("4217"),
        city: Some("Surfers Paradise"),
        phone: Some("07 5500 1111"),
        ..base()
    };
    check(
        &base(),
        &b,
        MatchDecision::Certain,
        expect![[r#"
            Certain weight 21.2
            given_name exact +5.5
            family_name exact +4.9
            birth_date exact +8.8
            sex agree +1.0
            identifier exact +10.9
            address different -3.2
            city different -3.2
            phone different -2.0
            moved +5.2
        "#]],
    );
}

#[test]
fn married_name_change_matches_the_former_name() {
    let a = P {
        family: "Whitfield",
        ..base()
    };
    let b = P {
        family: "Okafor",
        former: Some("Whitfield"),
        line: Some("2 Lake Road"),
        postcode: Some("2611"),
        phone: None,
        ..base()
    };
    check(
        &a,
        &b,
        MatchDecision::Certain,
        expect![[r#"
            Certain weight 24.3
            given_name exact +5.5
            family_name exact +4.9
            birth_date exact +8.8
            sex agree +1.0
            identifier exact +10.9
            address different -3.2
            city exact +4.1
            moved +0.9
        "#]],
    );
}

#[test]
fn swapped_given_and_family_names_are_certain() {
    let b = P {
        given: "Whitfield",
        family: "Margaret",
        ..base()
    };
    check(
        &base(),
        &b,
        MatchDecision::Certain,
        expect![[r#"
            Certain weight 25.4
            given_name swapped +4.3
            birth_date exact +8.8
            sex agree +1.0
            identifier exact +10.9
            address exact +6.2
            city exact +4.1
            phone exact +7.1
        "#]],
    );
}

#[test]
fn day_month_swap_with_same_identifier_is_certain() {
    let b = P {
        dob: Some("1961-12-04"),
        ..base()
    };
    check(
        &base(),
        &b,
        MatchDecision::Certain,
        expect![[r#"
            Certain weight 21.3
            given_name exact +4.1
            family_name exact +4.9
            birth_date day_month_swapped +4.9
            sex agree +1.0
            identifier exact +10.9
            address exact +6.2
            city exact +4.1
            phone exact +7.1
        "#]],
    );
}

#[test]
fn twins_sharing_household_are_not_certain() {
    let a = P { id: None, ..base() };
    let b = P {
        given: "Eleanor",
        id: None,
        ..base()
    };
    check(
        &a,
        &b,
        MatchDecision::Possible,
        expect![[r#"
            Possible weight 1.1
            given_name different -5.1
            family_name exact +4.9
            birth_date exact +4.9
            sex agree +1.0
            address exact +6.2
            city exact +4.1
            phone exact +7.1
        "#]],
    );
}

#[test]
fn father_and_junior_sharing_household_are_a_non_match() {
    let a = P {
        given: "Robert",
        family: "Hale",
        sex: Some(Sex::Male),
        dob: Some("1950-02-01"),
        id: None,
        ..base()
    };
    let b = P {
        family: "Hale Jr.",
        dob: Some("1979-08-30"),
        ..a.clone()
    };
    check(
        &a,
        &b,
        MatchDecision::NonMatch,
        expect![[r#"
            NonMatch weight -0.1
            given_name exact +4.1
            family_name exact +4.9
            birth_date different -5.6
            sex agree +1.0
            address exact +6.2
            city exact +4.1
            phone exact +7.1
        "#]],
    );
}

#[test]
fn spouses_are_a_non_match() {
    let a = P {
        given: "Robert",
        family: "Hale",
        sex: Some(Sex::Male),
        dob: Some("1950-02-01"),
        id: None,
        ..base()
    };
    let b = P {
        given: "Susan",
        sex: Some(Sex::Female),
        dob: Some("1952-07-19"),
        ..a.clone()
    };
    check(
        &a,
        &b,
        MatchDecision::NonMatch,
        expect![[r#"
        NonMatch weight -15.0
        given_name different -5.1
        family_name exact +4.9
        birth_date different -5.6
        sex disagree -4.6
        address exact +6.2
        city exact +4.1
        phone exact +7.1
    "#]],
    );
}

#[test]
fn placeholder_identity_never_reaches_certain() {
    let a = P {
        given: "John",
        family: "Doe",
        id: None,
        ..base()
    };
    check(
        &a,
        &a.clone(),
        MatchDecision::Probable,
        expect![[r#"
            Probable weight 10.4
            given_name exact +4.1
            family_name exact +4.9
            birth_date exact +4.9
            sex agree +1.0
            address exact +6.2
            city exact +4.1
            phone exact +7.1
        "#]],
    );
}

#[test]
fn different_identifier_with_same_name_and_birth_date_is_review() {
    let b = P {
        id: Some("9988776"),
        line: None,
        postcode: None,
        city: None,
        phone: None,
        ..base()
    };
    check(
        &base(),
        &b,
        MatchDecision::Probable,
        expect![[r#"
        Probable weight 5.9
        given_name exact +5.5
        family_name exact +4.9
        birth_date exact +8.8
        sex agree +1.0
        identifier different -7.6
    "#]],
    );
}

#[test]
fn name_only_is_not_enough() {
    let only = |p: P| P {
        sex: None,
        dob: None,
        line: None,
        postcode: None,
        city: None,
        phone: None,
        id: None,
        ..p
    };
    check(
        &only(base()),
        &only(base()),
        MatchDecision::Possible,
        expect![[r#"
            Possible weight 3.7
            given_name exact +5.5
            family_name exact +4.9
        "#]],
    );
}

#[test]
fn common_name_different_birth_date_is_a_non_match() {
    let a = P {
        given: "John",
        family: "Smith",
        sex: Some(Sex::Male),
        line: None,
        postcode: None,
        city: None,
        phone: None,
        id: None,
        ..base()
    };
    let b = P {
        dob: Some("1983-10-27"),
        ..a.clone()
    };
    check(
        &a,
        &b,
        MatchDecision::NonMatch,
        expect![[r#"
        NonMatch weight -0.9
        given_name exact +5.5
        family_name exact +4.9
        birth_date different -5.6
        sex agree +1.0
    "#]],
    );
}
