//! An inbound HL7 v2 message: bytes to text (UTF-8 with or without a BOM, ISO-8859-1 otherwise),
//! segment separators made uniform (CR, LF and CRLF all accepted), parsed with `hl7-parser`, and
//! its header (MSH) read into typed fields with the location of anything missing.

use hl7_parser::Message;
use hl7_parser::message::{Field, Separators};

use crate::ack::{ErrorCode, ErrorLocation, HlError};

/// A received message as text, ready to parse.
#[derive(Debug, Clone)]
pub struct Inbound {
    text: String,
}

impl Inbound {
    /// Decodes the bytes of one MLLP frame. Invalid UTF-8 is read as ISO-8859-1 (HL7 v2's
    /// customary 8-bit character set), which maps every byte to a character, so no byte is lost.
    pub fn decode(bytes: &[u8]) -> Self {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let raw = match std::str::from_utf8(bytes) {
            Ok(text) => text.to_owned(),
            Err(_) => bytes.iter().map(|&b| char::from(b)).collect(),
        };
        let mut text = String::with_capacity(raw.len());
        let mut chars = raw.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\r' => {
                    if chars.peek() == Some(&'\n') {
                        chars.next();
                    }
                    text.push('\r');
                }
                '\n' => text.push('\r'),
                c => text.push(c),
            }
        }
        // Blank lines between or after segments carry nothing.
        while text.contains("\r\r") {
            text = text.replace("\r\r", "\r");
        }
        let text = text.trim_matches(|c: char| c == '\r' || c.is_whitespace());
        Self {
            text: text.to_owned(),
        }
    }

    /// The message's text, segments separated by CR.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Parses the text. The error says where parsing stopped, never what the message said.
    pub fn parse(&self) -> Result<Message<'_>, HlError> {
        if !self.text.starts_with("MSH") {
            return Err(HlError::new(
                ErrorCode::SegmentSequence,
                "the message does not begin with an MSH segment",
            )
            .at(ErrorLocation::segment("MSH")));
        }
        Message::parse(&self.text).map_err(|e| {
            let position = match e {
                hl7_parser::parser::ParseError::FailedToParse { position, .. } => position,
                hl7_parser::parser::ParseError::IncompleteInput(_) => self.text.len(),
            };
            HlError::new(
                ErrorCode::SegmentSequence,
                format!("the message cannot be parsed (character {position})"),
            )
        })
    }
}

/// A field's first repetition's component as text, escape sequences decoded; empty when absent.
pub fn component(field: Option<&Field<'_>>, n: usize, seps: &Separators) -> String {
    field
        .and_then(|f| f.repeat(1))
        .and_then(|r| r.component(n))
        .map(|c| c.display(seps).to_string())
        .unwrap_or_default()
}

/// A field's first repetition's component's subcomponent as text; empty when absent.
pub fn subcomponent(field: Option<&Field<'_>>, n: usize, s: usize, seps: &Separators) -> String {
    field
        .and_then(|f| f.repeat(1))
        .and_then(|r| r.component(n))
        .and_then(|c| c.subcomponent(s))
        .map(|c| c.display(seps).to_string())
        .unwrap_or_default()
}

/// The message header, read from MSH.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Header {
    /// MSH-3.1, the sending application.
    pub sending_application: String,
    /// MSH-4.1, the sending facility.
    pub sending_facility: String,
    /// MSH-5 and MSH-6 as sent (the receiver's names, echoed as sender in the answer).
    pub receiving_application: String,
    /// MSH-6.
    pub receiving_facility: String,
    /// MSH-8, security (`APP+SECRET` for sources that have a secret).
    pub security: String,
    /// MSH-9.1, the message code (`ADT`, `QBP`).
    pub message_code: String,
    /// MSH-9.2, the trigger event (`A01`, `Q23`).
    pub trigger_event: String,
    /// MSH-9.3, the message structure (`ADT_A01`).
    pub message_structure: String,
    /// MSH-10, the control id the answer's MSA-2 repeats.
    pub control_id: String,
    /// MSH-11.1, the processing id (`P`, `D`, `T`).
    pub processing_id: String,
    /// MSH-12.1, the version (`2.3.1`, `2.5`).
    pub version: String,
    /// MSH-15, accept acknowledgment type (enhanced mode when it or MSH-16 is valued).
    pub accept_ack_type: String,
    /// MSH-16, application acknowledgment type.
    pub application_ack_type: String,
}

impl Header {
    /// Reads MSH; a missing control id, message type or version is error 101 at its field.
    pub fn read(message: &Message<'_>) -> Result<Self, Box<(Self, HlError)>> {
        let seps = &message.separators;
        let Some(msh) = message.segment("MSH") else {
            let error = HlError::new(ErrorCode::SegmentSequence, "MSH segment missing")
                .at(ErrorLocation::segment("MSH"));
            return Err(Box::new((Self::default(), error)));
        };
        let c = |field: usize, n: usize| component(msh.field(field), n, seps);
        let header = Self {
            sending_application: c(3, 1),
            sending_facility: c(4, 1),
            receiving_application: c(5, 1),
            receiving_facility: c(6, 1),
            security: msh
                .field(8)
                .map(|f| f.display(seps).to_string())
                .unwrap_or_default(),
            message_code: c(9, 1),
            trigger_event: c(9, 2),
            message_structure: c(9, 3),
            control_id: c(10, 1),
            processing_id: c(11, 1),
            version: c(12, 1),
            accept_ack_type: c(15, 1),
            application_ack_type: c(16, 1),
        };
        let missing = [
            (
                10,
                header.control_id.is_empty(),
                "MSH-10 (message control id)",
            ),
            (9, header.message_code.is_empty(), "MSH-9 (message type)"),
            (12, header.version.is_empty(), "MSH-12 (version id)"),
        ];
        if let Some((field, _, what)) = missing.into_iter().find(|m| m.1) {
            let error = HlError::new(
                ErrorCode::RequiredFieldMissing,
                format!("{what} is required"),
            )
            .at(ErrorLocation::field("MSH", 1, field));
            return Err(Box::new((header, error)));
        }
        Ok(header)
    }

    /// Enhanced acknowledgment mode: MSH-15 or MSH-16 is valued (HL7 v2.5 section 2.9.3).
    pub fn enhanced_mode(&self) -> bool {
        !self.accept_ack_type.is_empty() || !self.application_ack_type.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_ends_and_bom_are_made_uniform() {
        let bytes = b"\xEF\xBB\xBFMSH|^~\\&|A|B|C|D|20260101||ADT^A01^ADT_A01|42|P|2.5\r\nPID|||1\n\nPV1|\r";
        let inbound = Inbound::decode(bytes);
        assert_eq!(
            inbound.text(),
            "MSH|^~\\&|A|B|C|D|20260101||ADT^A01^ADT_A01|42|P|2.5\rPID|||1\rPV1|"
        );
        let message = inbound.parse().unwrap();
        let header = Header::read(&message).unwrap();
        assert_eq!(header.sending_application, "A");
        assert_eq!(header.message_code, "ADT");
        assert_eq!(header.trigger_event, "A01");
        assert_eq!(header.message_structure, "ADT_A01");
        assert_eq!(header.control_id, "42");
        assert_eq!(header.version, "2.5");
        assert!(!header.enhanced_mode());
    }

    #[test]
    fn latin1_bytes_are_kept_as_characters() {
        let inbound = Inbound::decode(b"MSH|^~\\&|A|B|||||ADT^A01|1|P|2.3.1\rPID|||1||M\xFCller");
        assert!(inbound.text().ends_with("Müller"));
    }

    #[test]
    fn a_missing_control_id_is_located() {
        let inbound = Inbound::decode(b"MSH|^~\\&|A|B|C|D|20260101||ADT^A01|||2.5");
        let message = inbound.parse().unwrap();
        let (_, error) = *Header::read(&message).unwrap_err();
        assert_eq!(error.code, ErrorCode::RequiredFieldMissing);
        assert_eq!(
            error.location.as_deref(),
            Some(&ErrorLocation::field("MSH", 1, 10))
        );
    }

    #[test]
    fn not_hl7_is_an_error_without_the_content() {
        let error = Inbound::decode(b"GET / HTTP/1.1").parse().unwrap_err();
        assert_eq!(error.code, ErrorCode::SegmentSequence);
        assert!(!error.message.contains("GET"));
    }
}
