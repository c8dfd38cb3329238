//! Acknowledgements: the MSA codes (original and enhanced mode: the one acknowledgement a
//! message gets is chosen by [`Header::commit_ack`] from MSH-15 and MSH-16), HL7 table 0357's error codes,
//! error locations, and the ERR segment in its v2.5 form (ERR-2 location, ERR-3 code, ERR-4
//! severity, ERR-8 user message) or its v2.3.1/v2.4 form (ERR-1, with the text in MSA-3).

use hl7_parser::Message;
use hl7_parser::message::Separators;

use crate::encode::{Cwe, Outbound, Segment, Value};
use crate::inbound::{Header, component};

/// HL7 table 0357, message error condition codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// 100: segment sequence error.
    SegmentSequence,
    /// 101: required field missing.
    RequiredFieldMissing,
    /// 102: data type error.
    DataType,
    /// 103: table value not found.
    TableValueNotFound,
    /// 200: unsupported message type.
    UnsupportedMessageType,
    /// 201: unsupported event code.
    UnsupportedEventCode,
    /// 202: unsupported processing id.
    UnsupportedProcessingId,
    /// 203: unsupported version id.
    UnsupportedVersionId,
    /// 204: unknown key identifier.
    UnknownKeyIdentifier,
    /// 205: duplicate key identifier.
    DuplicateKeyIdentifier,
    /// 206: application record locked.
    ApplicationRecordLocked,
    /// 207: application internal error.
    ApplicationInternalError,
}

impl ErrorCode {
    /// The table's code.
    pub fn code(self) -> &'static str {
        match self {
            ErrorCode::SegmentSequence => "100",
            ErrorCode::RequiredFieldMissing => "101",
            ErrorCode::DataType => "102",
            ErrorCode::TableValueNotFound => "103",
            ErrorCode::UnsupportedMessageType => "200",
            ErrorCode::UnsupportedEventCode => "201",
            ErrorCode::UnsupportedProcessingId => "202",
            ErrorCode::UnsupportedVersionId => "203",
            ErrorCode::UnknownKeyIdentifier => "204",
            ErrorCode::DuplicateKeyIdentifier => "205",
            ErrorCode::ApplicationRecordLocked => "206",
            ErrorCode::ApplicationInternalError => "207",
        }
    }

    /// The table's text.
    pub fn text(self) -> &'static str {
        match self {
            ErrorCode::SegmentSequence => "Segment sequence error",
            ErrorCode::RequiredFieldMissing => "Required field missing",
            ErrorCode::DataType => "Data type error",
            ErrorCode::TableValueNotFound => "Table value not found",
            ErrorCode::UnsupportedMessageType => "Unsupported message type",
            ErrorCode::UnsupportedEventCode => "Unsupported event code",
            ErrorCode::UnsupportedProcessingId => "Unsupported processing id",
            ErrorCode::UnsupportedVersionId => "Unsupported version id",
            ErrorCode::UnknownKeyIdentifier => "Unknown key identifier",
            ErrorCode::DuplicateKeyIdentifier => "Duplicate key identifier",
            ErrorCode::ApplicationRecordLocked => "Application record locked",
            ErrorCode::ApplicationInternalError => "Application internal error",
        }
    }

    /// Whether the table classes this condition as a rejection of the message (AR) rather than
    /// an error in processing it (AE). IHE asks for AE with 204 on queries; handlers choose the
    /// code themselves where the profile says so.
    pub fn rejects(self) -> bool {
        matches!(
            self,
            ErrorCode::UnsupportedMessageType
                | ErrorCode::UnsupportedEventCode
                | ErrorCode::UnsupportedProcessingId
                | ErrorCode::UnsupportedVersionId
                | ErrorCode::ApplicationInternalError
        )
    }
}

/// ERL: where in the message an error is (`SEG^seq^field^rep^comp^sub`; absent parts empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorLocation {
    /// Segment id.
    pub segment: String,
    /// The segment's sequence among segments of its name (1-based).
    pub sequence: Option<usize>,
    /// Field position.
    pub field: Option<usize>,
    /// Field repetition.
    pub repetition: Option<usize>,
    /// Component number.
    pub component: Option<usize>,
    /// Subcomponent number.
    pub subcomponent: Option<usize>,
}

impl ErrorLocation {
    /// A whole segment.
    pub fn segment(segment: &str) -> Self {
        Self {
            segment: segment.to_owned(),
            sequence: Some(1),
            field: None,
            repetition: None,
            component: None,
            subcomponent: None,
        }
    }

    /// A field of the `sequence`-th segment of that name.
    pub fn field(segment: &str, sequence: usize, field: usize) -> Self {
        Self {
            field: Some(field),
            sequence: Some(sequence),
            ..Self::segment(segment)
        }
    }

    /// Narrowed to a repetition.
    pub fn repetition(mut self, n: usize) -> Self {
        self.repetition = Some(n);
        self
    }

    /// Narrowed to a component.
    pub fn component(mut self, n: usize) -> Self {
        self.component = Some(n);
        self
    }

    fn parts(&self) -> Vec<String> {
        let n = |v: Option<usize>| v.map(|v| v.to_string()).unwrap_or_default();
        vec![
            self.segment.clone(),
            n(self.sequence),
            n(self.field),
            n(self.repetition),
            n(self.component),
            n(self.subcomponent),
        ]
    }
}

/// One error to report in an ERR segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HlError {
    /// The table 0357 code.
    pub code: ErrorCode,
    /// Where, when known.
    pub location: Option<Box<ErrorLocation>>,
    /// A message for a person (ERR-8; MSA-3 before v2.5). Never holds patient data.
    pub message: String,
}

impl HlError {
    /// An error with a message and no location yet.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            location: None,
            message: message.into(),
        }
    }

    /// With its location.
    pub fn at(mut self, location: ErrorLocation) -> Self {
        self.location = Some(Box::new(location));
        self
    }
}

/// MSA-1: the acknowledgment code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckCode {
    /// Accepted.
    Accept,
    /// An error in processing; the sender may correct and resend.
    Error,
    /// Rejected.
    Reject,
}

impl AckCode {
    /// `AA`/`AE`/`AR`, or `CA`/`CE`/`CR` in enhanced mode.
    pub fn code(self, enhanced: bool) -> &'static str {
        match (self, enhanced) {
            (AckCode::Accept, false) => "AA",
            (AckCode::Error, false) => "AE",
            (AckCode::Reject, false) => "AR",
            (AckCode::Accept, true) => "CA",
            (AckCode::Error, true) => "CE",
            (AckCode::Reject, true) => "CR",
        }
    }
}

/// Whether a version writes ERR in the v2.5 form (ERR-2 to ERR-8) rather than ERR-1 alone; an
/// answer to a message whose version could not be read is written as v2.5.
fn v25_or_later(version: &str) -> bool {
    if version.is_empty() {
        return true;
    }
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (2, 5)
}

/// The MSA segment (and, before v2.5, the first error's text in MSA-3).
pub fn msa(request: &Header, code: &str, errors: &[HlError]) -> Segment {
    let mut segment = Segment::new("MSA")
        .field(1, code)
        .field(2, request.control_id.as_str());
    if !v25_or_later(&request.version)
        && let Some(first) = errors.first()
    {
        segment = segment.field(3, first.message.as_str());
    }
    segment
}

/// The ERR segments for `errors`, in the form the request's version knows.
pub fn err_segments(request: &Header, errors: &[HlError]) -> Vec<Segment> {
    errors
        .iter()
        .map(|error| {
            let code = Cwe {
                code: error.code.code().to_owned(),
                text: error.code.text().to_owned(),
                system: "HL70357".to_owned(),
            };
            if v25_or_later(&request.version) {
                let mut segment = Segment::new("ERR");
                if let Some(location) = &error.location {
                    let parts = location.parts().into_iter().map(|p| vec![p]).collect();
                    segment = segment.field(2, Value::Composite(parts));
                }
                segment
                    .field(3, code.value())
                    .field(4, "E")
                    .field(8, error.message.as_str())
            } else {
                // ELD: segment id ^ sequence ^ field position ^ code (CE as subcomponents).
                let location = error
                    .location
                    .as_deref()
                    .cloned()
                    .unwrap_or_else(|| ErrorLocation::segment(""));
                let n = |v: Option<usize>| v.map(|v| v.to_string()).unwrap_or_default();
                Segment::new("ERR").field(
                    1,
                    Value::Composite(vec![
                        vec![location.segment],
                        vec![n(location.sequence)],
                        vec![n(location.field)],
                        vec![code.code, code.text, code.system],
                    ]),
                )
            }
        })
        .collect()
}

/// A general acknowledgment (`ACK^<trigger>^ACK`) with MSA and ERR segments.
pub fn ack(request: &Header, code: AckCode, errors: &[HlError]) -> Outbound {
    let mut message = Outbound::answer(request, "ACK", &request.trigger_event, "ACK");
    let msa_code = code.code(request.commit_ack(code));
    message.push(msa(request, msa_code, errors));
    for segment in err_segments(request, errors) {
        message.push(segment);
    }
    message
}

/// QAK-4, QAK-5 and QAK-6 of a PDQ answer: hits in total, in this answer, still to come.
pub type QakCounts = (u64, u64, u64);

/// The head of a query's answer (`RSP^<trigger>^<structure>`): MSH, MSA (AA, AE or AR: a
/// query is always answered by its RSP, the application acknowledgement, whatever MSH-15 and
/// MSH-16 ask), an ERR per error, QAK (QPD-2's query tag, `status`: `OK`, `NF` or `AE`; IHE's
/// error cases answer `AE`, never `AR`, ITI TF-2 3.9.4.2.2.2 and 3.21.4.2.2.2) and QPD echoed:
/// as received when the request used the standard delimiters, else re-encoded with ours.
pub fn query_answer(
    request: &Header,
    message: &Message<'_>,
    (trigger, structure): (&str, &str),
    code: AckCode,
    status: &str,
    counts: Option<QakCounts>,
    errors: &[HlError],
) -> Outbound {
    let mut out = Outbound::answer(request, "RSP", trigger, structure);
    out.push(msa(request, code.code(false), errors));
    for segment in err_segments(request, errors) {
        out.push(segment);
    }
    let seps = &message.separators;
    let qpd = message.segment("QPD");
    let tag = qpd
        .map(|q| component(q.field(2), 1, seps))
        .unwrap_or_default();
    let mut qak = Segment::new("QAK").field(1, tag).field(2, status);
    if let Some((total, shown, remaining)) = counts {
        qak = qak
            .field(4, total.to_string())
            .field(5, shown.to_string())
            .field(6, remaining.to_string());
    }
    out.push(qak);
    if let Some(q) = qpd {
        if *seps == Separators::default() {
            out.push_received(q.raw_value());
        } else {
            out.push_reencoded(q, seps);
        }
    }
    out
}

/// A query refused as a whole (version, processing id, character set, unknown source, the
/// service starting): its RSP with MSA `code`, the ERR, and QAK `AE`.
pub fn query_refused(
    request: &Header,
    message: &Message<'_>,
    answer: (&str, &str),
    code: AckCode,
    error: HlError,
) -> String {
    query_answer(request, message, answer, code, "AE", None, &[error]).render()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(version: &str) -> Header {
        Header {
            sending_application: "REG".into(),
            sending_facility: "WARD".into(),
            message_code: "ADT".into(),
            trigger_event: "A01".into(),
            control_id: "C-1".into(),
            version: version.into(),
            ..Header::default()
        }
    }

    #[test]
    fn v25_error_has_location_code_severity_and_text() {
        let error = HlError::new(ErrorCode::UnknownKeyIdentifier, "unknown domain")
            .at(ErrorLocation::field("QPD", 1, 3).repetition(1).component(4));
        let text = ack(&request("2.5"), AckCode::Error, &[error]).render();
        let lines: Vec<&str> = text.trim_end().split('\r').collect();
        assert!(lines[0].contains("|ACK^A01^ACK|"));
        assert_eq!(lines[1], "MSA|AE|C-1");
        assert_eq!(
            lines[2],
            "ERR||QPD^1^3^1^4|204^Unknown key identifier^HL70357|E||||unknown domain"
        );
    }

    #[test]
    fn v231_error_uses_err1_and_msa3() {
        let error = HlError::new(ErrorCode::RequiredFieldMissing, "PID-3 is required")
            .at(ErrorLocation::field("PID", 1, 3));
        let text = ack(&request("2.3.1"), AckCode::Error, &[error]).render();
        let lines: Vec<&str> = text.trim_end().split('\r').collect();
        assert_eq!(lines[1], "MSA|AE|C-1|PID-3 is required");
        assert_eq!(lines[2], "ERR|PID^1^3^101&Required field missing&HL70357");
    }

    #[test]
    fn enhanced_mode_answers_commit_codes() {
        let mut header = request("2.5");
        header.accept_ack_type = "AL".into();
        let text = ack(&header, AckCode::Accept, &[]).render();
        assert!(text.contains("\rMSA|CA|C-1\r"));
        // MSH-16 asking for the application acknowledgement gets it, not the commit one.
        header.application_ack_type = "AL".into();
        let text = ack(&header, AckCode::Error, &[]).render();
        assert!(text.contains("\rMSA|AE|C-1\r"), "{text}");
    }
}
