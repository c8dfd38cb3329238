//! An inbound HL7 v2 message: bytes to text (UTF-8 with or without a BOM, ISO-8859-1 otherwise),
//! segment separators made uniform (CR, LF and CRLF all accepted), parsed with `hl7-parser`, and
//! its header (MSH) read into typed fields with the location of anything missing.

use hl7_parser::Message;
use hl7_parser::message::{Field, Separators};

use crate::ack::{AckCode, ErrorCode, ErrorLocation, HlError};
use crate::encode::Hd;

/// A received message as text, ready to parse.
#[derive(Debug, Clone)]
pub struct Inbound {
    text: String,
}

impl Inbound {
    /// Decodes the bytes of one MLLP frame: as ISO-8859-1 when MSH-18 says `8859/1`, else as
    /// UTF-8, and invalid UTF-8 as ISO-8859-1 (HL7 v2's customary 8-bit character set), which
    /// maps every byte to a character, so no byte is lost.
    pub fn decode(bytes: &[u8]) -> Self {
        let latin1 = crate::charset::declared(bytes)
            .and_then(|code| std::str::from_utf8(code).ok())
            .and_then(|code| crate::charset::Charset::from_msh18(code).ok().flatten())
            == Some(crate::charset::Charset::Latin1);
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let raw = match std::str::from_utf8(bytes) {
            Ok(text) if !latin1 => text.to_owned(),
            _ => bytes.iter().map(|&b| char::from(b)).collect(),
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
    /// MSH-18's first repetition, the character set (empty: HL7's default, ASCII).
    pub charset: String,
    /// MSH-3, MSH-4, MSH-5 and MSH-6 as whole HDs (namespace, universal id and its type), which
    /// an answer echoes swapped (ITI TF-2 3.21.4.1.2, ITI21-15: MSH-5 as received in MSH-3).
    pub hds: [Hd; 4],
}

/// A header component as text, escape sequences decoded and surrounding spaces dropped: senders
/// pad header fields (OpenHIE CR test messages send MSH-12 as `2.5 `), and a padded version,
/// code or name would otherwise be read as another one.
fn header_component(field: Option<&Field<'_>>, n: usize, seps: &Separators) -> String {
    component(field, n, seps).trim().to_owned()
}

/// A field's first repetition as an HD (`NS^OID^ISO`), escape sequences decoded, trimmed.
fn hd(field: Option<&Field<'_>>, seps: &Separators) -> Hd {
    Hd {
        namespace: header_component(field, 1, seps),
        universal_id: header_component(field, 2, seps),
        universal_id_type: header_component(field, 3, seps),
    }
}

impl Header {
    /// Reads MSH, every component trimmed of surrounding spaces; a missing control id, message
    /// type or version is error 101 at its field.
    pub fn read(message: &Message<'_>) -> Result<Self, Box<(Self, HlError)>> {
        let seps = &message.separators;
        let Some(msh) = message.segment("MSH") else {
            let error = HlError::new(ErrorCode::SegmentSequence, "MSH segment missing")
                .at(ErrorLocation::segment("MSH"));
            return Err(Box::new((Self::default(), error)));
        };
        let c = |field: usize, n: usize| header_component(msh.field(field), n, seps);
        let header = Self {
            sending_application: c(3, 1),
            sending_facility: c(4, 1),
            receiving_application: c(5, 1),
            receiving_facility: c(6, 1),
            security: msh
                .field(8)
                .map(|f| f.display(seps).to_string().trim().to_owned())
                .unwrap_or_default(),
            message_code: c(9, 1),
            trigger_event: c(9, 2),
            message_structure: c(9, 3),
            control_id: c(10, 1),
            processing_id: c(11, 1),
            version: c(12, 1),
            accept_ack_type: c(15, 1),
            application_ack_type: c(16, 1),
            charset: msh
                .field(18)
                .and_then(|f| f.repeat(1))
                .map(|r| r.display(seps).to_string().trim().to_owned())
                .unwrap_or_default(),
            hds: [3, 4, 5, 6].map(|n| hd(msh.field(n), seps)),
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

    /// Whether the one acknowledgement this listener sends for a message with outcome `code`
    /// is the accept (commit) acknowledgement, CA/CE/CR, rather than the application
    /// acknowledgement, AA/AE/AR (HL7 v2.5 sections 2.9.2, 2.9.3, table 0155):
    ///
    /// - MSH-15 and MSH-16 both empty: original mode, the application acknowledgement;
    /// - MSH-16 asks for the application acknowledgement of this outcome (`AL`; `ER` and the
    ///   message failed; `SU` and it succeeded): the application acknowledgement, which says
    ///   more than the commit one and is sent after the commit;
    /// - otherwise (MSH-15 `AL`, `ER`, `SU` or `NE`, MSH-16 `NE` or a condition not met): the
    ///   accept acknowledgement. HL7 would send nothing when neither field's condition is met
    ///   (both `NE`, say); an MLLP sender waits for an answer on its connection, so this
    ///   listener still sends that one accept acknowledgement rather than leave it waiting.
    ///
    /// Never both: one answer per message, in order, on the connection it came on. Queries
    /// are answered by their RSP whatever these fields say.
    pub fn commit_ack(&self, code: AckCode) -> bool {
        if !self.enhanced_mode() {
            return false;
        }
        let asks = |condition: &str| match condition.trim().to_ascii_uppercase().as_str() {
            "AL" => true,
            "ER" => code != AckCode::Accept,
            "SU" => code == AckCode::Accept,
            _ => false,
        };
        !asks(&self.application_ack_type)
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
        assert!(!header.commit_ack(AckCode::Accept));
    }

    #[test]
    fn the_acknowledgement_follows_msh_15_and_msh_16() {
        let header = |accept: &str, application: &str| Header {
            accept_ack_type: accept.into(),
            application_ack_type: application.into(),
            ..Header::default()
        };
        let (ok, failed) = (AckCode::Accept, AckCode::Error);
        // Original mode.
        assert!(!header("", "").commit_ack(ok));
        // MSH-16 asks for the application acknowledgement.
        assert!(!header("AL", "AL").commit_ack(ok));
        assert!(!header("NE", "AL").commit_ack(failed));
        assert!(!header("", "ER").commit_ack(failed));
        assert!(!header("AL", "SU").commit_ack(ok));
        // MSH-16 does not (its condition is not met, or NE): the accept acknowledgement.
        assert!(header("AL", "NE").commit_ack(ok));
        assert!(header("AL", "").commit_ack(failed));
        assert!(header("AL", "ER").commit_ack(ok));
        assert!(header("ER", "SU").commit_ack(failed));
        // Neither asks (both NE): still one answer, the accept acknowledgement.
        assert!(header("NE", "NE").commit_ack(ok));
    }

    #[test]
    fn whole_hds_and_the_character_set_are_read() {
        let inbound = Inbound::decode(
            b"MSH|^~\\&|APP^1.2.3^ISO|FAC|PDQ^2.3.4^ISO|HOSP^9.9^ISO|20260101||QBP^Q22|1|P|2.5||||||8859/1~UNICODE UTF-8",
        );
        let message = inbound.parse().unwrap();
        let header = Header::read(&message).unwrap();
        assert_eq!(header.charset, "8859/1");
        assert_eq!(header.receiving_application, "PDQ");
        assert_eq!(header.hds[2].universal_id, "2.3.4");
        assert_eq!(header.hds[3].universal_id_type, "ISO");
        assert_eq!(header.hds[0].namespace, "APP");
    }

    #[test]
    fn latin1_bytes_are_kept_as_characters() {
        let inbound = Inbound::decode(b"MSH|^~\\&|A|B|||||ADT^A01|1|P|2.3.1\rPID|||1||M\xFCller");
        assert!(inbound.text().ends_with("Müller"));
    }

    #[test]
    fn latin1_declared_in_msh_18_is_read_as_latin1() {
        // C3 BC is "ü" in UTF-8, but "Ã¼" in the Latin-1 the header declares.
        let inbound = Inbound::decode(
            b"MSH|^~\\&|A|B|||||ADT^A01|1|P|2.5||||||8859/1\rPID|||1||M\xC3\xBCller",
        );
        assert!(
            inbound.text().ends_with("M\u{c3}\u{bc}ller"),
            "{}",
            inbound.text()
        );
    }

    #[test]
    fn header_components_are_trimmed() {
        let inbound =
            Inbound::decode(b"MSH|^~\\&| APP ^ 1.2.3 |FAC |||||QBP ^Q23 ^QBP_Q21| C-7 |P |2.5 ");
        let message = inbound.parse().unwrap();
        let header = Header::read(&message).unwrap();
        assert_eq!(header.version, "2.5");
        assert_eq!(header.processing_id, "P");
        assert_eq!(header.control_id, "C-7");
        assert_eq!(header.message_code, "QBP");
        assert_eq!(header.trigger_event, "Q23");
        assert_eq!(header.sending_application, "APP");
        assert_eq!(header.sending_facility, "FAC");
        assert_eq!(header.hds[0].universal_id, "1.2.3");
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
