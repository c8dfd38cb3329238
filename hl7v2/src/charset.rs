//! Character sets (MSH-18, HL7 table 0211): the ones this listener reads and writes are
//! `ASCII` (HL7's default when MSH-18 is empty), `8859/1` (ISO-8859-1, Latin-1) and
//! `UNICODE UTF-8`. A request naming one of them is read in it and answered in it, with MSH-18
//! echoed; a character the answer's set cannot hold is written as `?` (HL7 v2.5 has no escape
//! for an arbitrary character outside the message's set). A request without MSH-18 is answered
//! in UTF-8, with MSH-18 `UNICODE UTF-8` when the answer holds a character outside ASCII, so
//! the receiver is told; an all-ASCII answer carries no MSH-18, as before. Another MSH-18 is
//! refused (AR, ERR 103 at MSH-18). ITI-10 notifications are UTF-8 with MSH-18 `UNICODE UTF-8`.

/// A character set this listener reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    /// `ASCII`: printable 7-bit ASCII.
    Ascii,
    /// `8859/1`: ISO-8859-1 (Latin-1), one byte per character.
    Latin1,
    /// `UNICODE UTF-8`.
    Utf8,
}

/// MSH-18 names a character set this listener does not support.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unsupported;

impl Charset {
    /// The character set MSH-18 names (`None` when it is empty: HL7's default).
    pub fn from_msh18(code: &str) -> Result<Option<Self>, Unsupported> {
        match code.trim().to_ascii_uppercase().as_str() {
            "" => Ok(None),
            "ASCII" => Ok(Some(Charset::Ascii)),
            "8859/1" => Ok(Some(Charset::Latin1)),
            "UNICODE UTF-8" => Ok(Some(Charset::Utf8)),
            _ => Err(Unsupported),
        }
    }

    /// Its table 0211 code, as written in MSH-18.
    pub fn code(self) -> &'static str {
        match self {
            Charset::Ascii => "ASCII",
            Charset::Latin1 => "8859/1",
            Charset::Utf8 => "UNICODE UTF-8",
        }
    }

    /// `text` in this character set; a character it cannot hold becomes `?`.
    pub fn encode(self, text: &str) -> Vec<u8> {
        let limit = match self {
            Charset::Utf8 => return text.as_bytes().to_vec(),
            Charset::Ascii => 0x7F,
            Charset::Latin1 => 0xFF,
        };
        text.chars()
            .map(|c| {
                u8::try_from(u32::from(c))
                    .ok()
                    .filter(|b| u32::from(*b) <= limit)
            })
            .map(|b| b.unwrap_or(b'?'))
            .collect()
    }
}

/// MSH-18's first repetition in the raw bytes of a message (its header is ASCII whatever the
/// set), or `None` when the message has no MSH or no MSH-18.
pub fn declared(bytes: &[u8]) -> Option<&[u8]> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let end = bytes
        .iter()
        .position(|b| *b == b'\r' || *b == b'\n')
        .unwrap_or(bytes.len());
    let msh = &bytes[..end];
    if msh.len() < 8 || !msh.starts_with(b"MSH") {
        return None;
    }
    let (field_sep, repetition_sep) = (msh[3], msh[5]);
    // Split on the field separator: [MSH, MSH-2, MSH-3, ...]; MSH-n is at index n - 1.
    let field = msh.split(|b| *b == field_sep).nth(17)?;
    field.split(|b| *b == repetition_sep).next()
}

/// The bytes to send for an answer rendered by [`crate::encode::Outbound`]: in the character
/// set its MSH-18 names (UTF-8 when it names none).
pub fn wire(answer: &str) -> Vec<u8> {
    let named = declared(answer.as_bytes())
        .and_then(|code| std::str::from_utf8(code).ok())
        .and_then(|code| Charset::from_msh18(code).ok().flatten());
    named.unwrap_or(Charset::Utf8).encode(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_0211_codes_are_read() {
        assert_eq!(Charset::from_msh18(""), Ok(None));
        assert_eq!(Charset::from_msh18("8859/1"), Ok(Some(Charset::Latin1)));
        assert_eq!(
            Charset::from_msh18("unicode utf-8"),
            Ok(Some(Charset::Utf8))
        );
        assert_eq!(Charset::from_msh18("ASCII"), Ok(Some(Charset::Ascii)));
        assert_eq!(Charset::from_msh18("8859/2"), Err(Unsupported));
    }

    #[test]
    fn characters_outside_the_set_become_question_marks() {
        assert_eq!(Charset::Latin1.encode("Müller Łódź"), b"M\xFCller ?\xF3d?");
        assert_eq!(Charset::Ascii.encode("Müller"), b"M?ller");
        assert_eq!(Charset::Utf8.encode("Łódź"), "Łódź".as_bytes());
    }

    #[test]
    fn msh_18_is_found_in_the_raw_header() {
        let message =
            b"MSH|^~\\&|A|B|C|D|20260101||ADT^A01|1|P|2.5||||||8859/1~UNICODE UTF-8\rPID|||1";
        assert_eq!(declared(message), Some(&b"8859/1"[..]));
        assert_eq!(
            declared(b"MSH|^~\\&|A|B|C|D|20260101||ADT^A01|1|P|2.5"),
            None
        );
        let answer = "MSH|^~\\&|MPI|MPI|A|B|20260101||ACK^A01^ACK|1|P|2.5||||||8859/1\rMSA|AA|ü\r";
        assert!(wire(answer).ends_with(b"MSA|AA|\xFC\r"));
    }
}
