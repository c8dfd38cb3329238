//! The typed encoder for outbound messages: HL7 data types (HD, CX, CWE, ERL) as values that
//! render themselves into `hl7-parser`'s builder, which escapes every value, so no handler
//! concatenates delimiters by hand.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use hl7_parser::builder::{ComponentBuilder, FieldBuilder, RepeatBuilder, SegmentBuilder};
use hl7_parser::message::Separators;

use crate::charset::Charset;
use crate::inbound::Header;

/// A value that fills one field: plain text, components, or repetitions of components.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// One text value.
    Text(String),
    /// Components, each a list of subcomponents (1-based positions; empty strings are left out).
    Composite(Vec<Vec<String>>),
    /// Repetitions of composites.
    Repeated(Vec<Vec<Vec<String>>>),
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Text(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Text(s)
    }
}

fn repeat_of(components: &[Vec<String>]) -> RepeatBuilder {
    let mut map = HashMap::new();
    for (i, subs) in components.iter().enumerate() {
        if subs.iter().all(String::is_empty) {
            continue;
        }
        let component = if subs.len() == 1 {
            ComponentBuilder::Value(subs[0].clone())
        } else {
            ComponentBuilder::Subcomponents(
                subs.iter()
                    .enumerate()
                    .filter(|(_, s)| !s.is_empty())
                    .map(|(j, s)| (j + 1, s.clone()))
                    .collect(),
            )
        };
        map.insert(i + 1, component);
    }
    RepeatBuilder::Components(map)
}

impl Value {
    fn into_field(self) -> FieldBuilder {
        match self {
            Value::Text(text) => FieldBuilder::Value(text),
            Value::Composite(components) => FieldBuilder::Repeats(vec![repeat_of(&components)]),
            Value::Repeated(reps) => {
                FieldBuilder::Repeats(reps.iter().map(|r| repeat_of(r)).collect())
            }
        }
    }
}

/// HD: hierarchic designator, an assigning authority by namespace and/or OID.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Hd {
    /// HD.1, the namespace id (`ST_MARYS`).
    pub namespace: String,
    /// HD.2, the universal id (an OID).
    pub universal_id: String,
    /// HD.3, the universal id type (`ISO` for an OID).
    pub universal_id_type: String,
}

impl Hd {
    /// As the subcomponents of a component inside a CX (`NS&OID&ISO`).
    fn subcomponents(&self) -> Vec<String> {
        vec![
            self.namespace.clone(),
            self.universal_id.clone(),
            self.universal_id_type.clone(),
        ]
    }

    /// As a field of its own (`NS^OID^ISO`).
    pub fn value(&self) -> Value {
        Value::Composite(vec![
            vec![self.namespace.clone()],
            vec![self.universal_id.clone()],
            vec![self.universal_id_type.clone()],
        ])
    }
}

/// CX: an identifier with its assigning authority (`VALUE^^^NS&OID&ISO^TYPE`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cx {
    /// CX.1.
    pub id: String,
    /// CX.4.
    pub authority: Hd,
    /// CX.5, the identifier type code (`PI`, `MR`, `NI`).
    pub type_code: String,
}

impl Cx {
    fn components(&self) -> Vec<Vec<String>> {
        vec![
            vec![self.id.clone()],
            vec![],
            vec![],
            self.authority.subcomponents(),
            vec![self.type_code.clone()],
        ]
    }

    /// Several identifiers as the repetitions of one field (PID-3).
    pub fn list(ids: &[Cx]) -> Value {
        Value::Repeated(ids.iter().map(Cx::components).collect())
    }
}

/// CWE: a coded element (`CODE^TEXT^SYSTEM`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cwe {
    /// Identifier.
    pub code: String,
    /// Text.
    pub text: String,
    /// Name of the coding system (`HL70357`).
    pub system: String,
}

impl Cwe {
    /// As a field value.
    pub fn value(&self) -> Value {
        Value::Composite(vec![
            vec![self.code.clone()],
            vec![self.text.clone()],
            vec![self.system.clone()],
        ])
    }
}

/// One segment being built; fields are numbered as HL7 numbers them (MSH-3 is `field(3, ..)`).
#[derive(Debug, Clone)]
pub struct Segment(SegmentBuilder);

impl Segment {
    /// An empty segment of this name.
    pub fn new(name: &str) -> Self {
        Self(SegmentBuilder::new(name))
    }

    /// Sets field `n` (empty values are left out).
    pub fn field(mut self, n: usize, value: impl Into<Value>) -> Self {
        let value = value.into();
        if value != Value::Text(String::new()) {
            self.0.set_field(n, value.into_field());
        }
        self
    }
}

/// An outbound message: MSH first, then the segments in order, each rendered when pushed.
/// MSH is rendered last, when its MSH-18 is known (see [`crate::charset`]).
#[derive(Debug, Clone)]
pub struct Outbound {
    separators: Separators,
    msh: Segment,
    /// MSH-18: the character set the request named (echoed), or the one this message is
    /// always sent in; `None`: UTF-8, named only when the message is not all ASCII.
    charset: Option<Charset>,
    segments: Vec<String>,
}

static CONTROL_IDS: AtomicU64 = AtomicU64::new(0);

/// A control id for an outbound message: the process start second and a counter (at most 20
/// characters, MSH-10's length in v2.5).
pub fn next_control_id() -> String {
    static START: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    let start = START.get_or_init(|| chrono::Utc::now().timestamp());
    let n = CONTROL_IDS.fetch_add(1, Ordering::Relaxed);
    format!("MPI{start}{:06}", n % 1_000_000)
}

impl Outbound {
    /// A message this MPI starts (not an answer), from `MPI` to `receiver`: MSH-9
    /// `code^trigger^structure`, `control_id` (MSH-10, see [`next_control_id`]), processing id
    /// `P`, version 2.5.
    pub fn unsolicited(
        receiver: &Hd,
        receiving_facility: &Hd,
        code: &str,
        trigger: &str,
        structure: &str,
        control_id: &str,
    ) -> Self {
        let msh = Segment::new("MSH")
            .field(3, "MPI")
            .field(4, "MPI")
            .field(5, receiver.value())
            .field(6, receiving_facility.value())
            .field(7, chrono::Local::now().format("%Y%m%d%H%M%S%z").to_string())
            .field(
                9,
                Value::Composite(vec![
                    vec![code.to_owned()],
                    vec![trigger.to_owned()],
                    vec![structure.to_owned()],
                ]),
            )
            .field(10, control_id)
            .field(11, "P")
            .field(12, "2.5");
        Self {
            separators: Separators::default(),
            msh,
            charset: Some(Charset::Utf8),
            segments: Vec::new(),
        }
    }

    /// An answer to `request`: MSH-3/4 are the names (whole HDs) the request gave its receiver
    /// (or `MPI`), MSH-5/6 the request's sender, MSH-9 `code^trigger^structure`, MSH-11 and
    /// MSH-12 echo the request's processing id and version, MSH-18 its character set when it
    /// named one this listener writes.
    pub fn answer(request: &Header, code: &str, trigger: &str, structure: &str) -> Self {
        let or_mpi = |hd: &Hd| {
            if *hd == Hd::default() {
                Hd {
                    namespace: "MPI".to_owned(),
                    ..Hd::default()
                }
                .value()
            } else {
                hd.value()
            }
        };
        let [sender, sending_facility, receiver, receiving_facility] = &request.hds;
        let msh = Segment::new("MSH")
            .field(3, or_mpi(receiver))
            .field(4, or_mpi(receiving_facility))
            .field(5, sender.value())
            .field(6, sending_facility.value())
            .field(7, chrono::Local::now().format("%Y%m%d%H%M%S%z").to_string())
            .field(
                9,
                Value::Composite(vec![
                    vec![code.to_owned()],
                    vec![trigger.to_owned()],
                    vec![structure.to_owned()],
                ]),
            )
            .field(10, next_control_id())
            .field(
                11,
                if request.processing_id.is_empty() {
                    "P"
                } else {
                    request.processing_id.as_str()
                },
            )
            .field(
                12,
                if request.version.is_empty() {
                    "2.5"
                } else {
                    request.version.as_str()
                },
            );
        Self {
            separators: Separators::default(),
            msh,
            charset: Charset::from_msh18(&request.charset).ok().flatten(),
            segments: Vec::new(),
        }
    }

    /// Appends a segment.
    pub fn push(&mut self, segment: Segment) {
        self.segments
            .push(segment.0.display(&self.separators).to_string());
    }

    /// Appends a segment of the request as it was received (QPD echoed in a query's answer):
    /// its text is already encoded with the standard delimiters, which answers also use.
    pub fn push_received(&mut self, segment_text: &str) {
        self.segments.push(segment_text.to_owned());
    }

    /// Appends a segment of the request re-encoded with this message's delimiters: every
    /// field, repetition, component and subcomponent decoded with the request's separators and
    /// escaped again with ours (QPD echoed in the answer to a query that used other delimiters).
    pub fn push_reencoded(
        &mut self,
        segment: &hl7_parser::message::Segment<'_>,
        seps: &Separators,
    ) {
        let mut out = Segment::new(segment.name);
        for (n, field) in segment.fields().enumerate() {
            let repeats: Vec<Vec<Vec<String>>> = field
                .repeats()
                .map(|r| {
                    r.components()
                        .map(|c| {
                            c.subcomponents()
                                .map(|s| s.display(seps).to_string())
                                .collect()
                        })
                        .collect()
                })
                .collect();
            if repeats.iter().flatten().flatten().all(String::is_empty) {
                continue;
            }
            out = out.field(n + 1, Value::Repeated(repeats));
        }
        self.push(out);
    }

    /// The message's text, every segment ended by CR. MSH-18 is the request's character set
    /// when it named one; otherwise `UNICODE UTF-8` when the text is not all ASCII.
    pub fn render(&self) -> String {
        let body_ascii = self.segments.iter().all(|s| s.is_ascii());
        let plain = self.msh.0.display(&self.separators).to_string();
        let charset = match self.charset {
            Some(charset) => Some(charset),
            None if !(body_ascii && plain.is_ascii()) => Some(Charset::Utf8),
            None => None,
        };
        let msh = match charset {
            Some(charset) => self
                .msh
                .clone()
                .field(18, charset.code())
                .0
                .display(&self.separators)
                .to_string(),
            None => plain,
        };
        let mut text = String::with_capacity(
            msh.len() + 1 + self.segments.iter().map(|s| s.len() + 1).sum::<usize>(),
        );
        text.push_str(&msh);
        text.push('\r');
        for segment in &self.segments {
            text.push_str(segment);
            text.push('\r');
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cx_lists_render_with_full_hd_and_escaped_values() {
        let ids = [
            Cx {
                id: "A|1".into(),
                authority: Hd {
                    namespace: "TEST".into(),
                    universal_id: "2.16.840.1.113883.3.72.5.9.1".into(),
                    universal_id_type: "ISO".into(),
                },
                type_code: "PI".into(),
            },
            Cx {
                id: "77".into(),
                authority: Hd {
                    namespace: "NID".into(),
                    ..Hd::default()
                },
                type_code: String::new(),
            },
        ];
        let pid = Segment::new("PID").field(3, Cx::list(&ids));
        let mut m = Outbound::answer(&Header::default(), "RSP", "K23", "RSP_K23");
        m.push(pid);
        let text = m.render();
        let pid_line = text.split('\r').nth(1).unwrap();
        assert_eq!(
            pid_line,
            "PID|||A\\F\\1^^^TEST&2.16.840.1.113883.3.72.5.9.1&ISO^PI~77^^^NID"
        );
    }

    #[test]
    fn answer_header_swaps_sender_and_receiver() {
        let hd = |ns: &str, oid: &str| Hd {
            namespace: ns.into(),
            universal_id: oid.into(),
            universal_id_type: if oid.is_empty() { "" } else { "ISO" }.into(),
        };
        let request = Header {
            sending_application: "REG".into(),
            sending_facility: "WARD".into(),
            version: "2.3.1".into(),
            processing_id: "T".into(),
            hds: [
                hd("REG", ""),
                hd("WARD", ""),
                Hd::default(),
                hd("HOSP", "1.2.3"),
            ],
            ..Header::default()
        };
        let text = Outbound::answer(&request, "ACK", "A01", "ACK").render();
        let fields: Vec<&str> = text.trim_end().split('|').collect();
        assert_eq!(fields[0], "MSH");
        assert_eq!(fields[2], "MPI");
        // The whole HD the request named its receiving facility with.
        assert_eq!(fields[3], "HOSP^1.2.3^ISO");
        assert_eq!(fields[4], "REG");
        assert_eq!(fields[5], "WARD");
        assert_eq!(fields[8], "ACK^A01^ACK");
        assert!(fields[9].len() <= 20);
        assert_eq!(fields[10], "T");
        assert_eq!(fields[11], "2.3.1");
        assert!(text.ends_with('\r'));
        // All ASCII: no MSH-18.
        assert_eq!(fields.len(), 12);
    }

    #[test]
    fn msh_18_echoes_the_request_or_names_utf8_when_needed() {
        let mut request = Header::default();
        let mut m = Outbound::answer(&request, "ACK", "A01", "ACK");
        m.push(Segment::new("MSA").field(1, "AA").field(3, "Łódź"));
        let text = m.render();
        let msh: Vec<&str> = text.split('\r').next().unwrap().split('|').collect();
        assert_eq!(msh.get(17), Some(&"UNICODE UTF-8"), "{text}");
        request.charset = "8859/1".into();
        let m = Outbound::answer(&request, "ACK", "A01", "ACK");
        let text = m.render();
        let msh: Vec<&str> = text.split('\r').next().unwrap().split('|').collect();
        assert_eq!(msh.get(17), Some(&"8859/1"), "{text}");
    }

    #[test]
    fn a_segment_is_reencoded_with_our_delimiters() {
        let text = "MSH#$*!%#A#B###20260101##QBP$Q22#1#P#2.5\rQPD#IHE PDQ Query#T1#@PID.5.1.1$O|BRIEN*@PID.3.4.1$NS%X";
        let message = hl7_parser::Message::parse(text).unwrap();
        let qpd = message.segment("QPD").unwrap();
        let mut m = Outbound::answer(&Header::default(), "RSP", "K22", "RSP_K21");
        m.push_reencoded(qpd, &message.separators);
        let rendered = m.render();
        let line = rendered.split('\r').nth(1).unwrap();
        assert_eq!(
            line,
            "QPD|IHE PDQ Query|T1|@PID.5.1.1^O\\F\\BRIEN~@PID.3.4.1^NS&X"
        );
    }
}
