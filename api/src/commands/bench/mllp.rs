//! The HL7 v2 face of `mpi bench`: the messages of the `hl7-*` scenarios, built from the
//! generated records, and a minimal MLLP client (framing `0x0B` message `0x1C 0x0D`) that sends
//! one message and reads its acknowledgement on a connection kept per client.

use service::patients::PatientInput;

use super::{FRESH, Request, Scenario};

/// HL7 text may not hold its delimiters unescaped; the bench's values simply drop them.
fn clean(s: &str) -> String {
    s.chars().filter(|c| !"|^~\\&\r\n".contains(*c)).collect()
}

/// The HL7 v2 messages of an `hl7-*` scenario, from `sender`; `run` makes the feed's
/// identifiers new in each run (with [`FRESH`], new for each message sent).
pub(super) fn requests(
    scenario: Scenario,
    sender: &str,
    system: &str,
    run: &str,
    records: &[(String, PatientInput)],
) -> Vec<Request> {
    let now = chrono::Utc::now().format("%Y%m%d%H%M%S").to_string();
    let msh = |n: usize, kind: &str| {
        format!(
            "MSH|^~\\&|{}|BENCH|MPI|MPI|{now}||{kind}|B{run}-{n}|P|2.5\r",
            clean(sender),
        )
    };
    records
        .iter()
        .enumerate()
        .filter_map(|(n, (id, input))| {
            let name = input.names.first()?;
            let family = clean(name.family.as_deref().unwrap_or(""));
            let given = clean(name.given.first().map(String::as_str).unwrap_or(""));
            let text = match scenario {
                // A registration each time: the identifier is new for every message sent, so
                // no message is an update of an earlier one (ITI-8 updates a record whose
                // identifier this source already holds).
                Scenario::Hl7Feed => format!(
                    "{}EVN|A01|{now}\rPID|||B{run}-{FRESH}^^^BENCH_FEED||{family}^{given}||{}|{}\rPV1||O\r",
                    msh(n, "ADT^A01^ADT_A01"),
                    input
                        .birth_date
                        .map(|d| d.format("%Y%m%d").to_string())
                        .unwrap_or_default(),
                    match input.gender.map(|g| g.as_str()) {
                        Some("male") => "M",
                        Some("female") => "F",
                        Some(_) => "U",
                        None => "",
                    }
                ),
                Scenario::Hl7Pix => format!(
                    "{}QPD|IHE PIX Query|Q{n}|{}^^^{}\rRCP|I\r",
                    msh(n, "QBP^Q23^QBP_Q21"),
                    clean(id),
                    clean(system)
                ),
                Scenario::Hl7Pdq => {
                    if family.is_empty() || given.is_empty() {
                        return None;
                    }
                    format!(
                        "{}QPD|IHE PDQ Query|Q{n}|@PID.5.1^{family}~@PID.5.2^{given}\rRCP|I|10^RD\r",
                        msh(n, "QBP^Q22^QBP_Q21")
                    )
                }
                _ => return None,
            };
            Some(Request::Hl7(text))
        })
        .collect()
}

/// One MLLP connection of a bench client.
pub(super) type Connection = tokio::net::TcpStream;

/// Longest acknowledgement read (a PDQ answer of ten patients is far smaller).
const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;

/// Sends `text` framed on `connection` (connecting to `addr` first when needed) and reads the
/// answer; its MSA-1 as a status: 200 (AA, CA), 422 (AE, CE), 400 (AR, CR, anything else).
/// A failed exchange drops the connection, so the next one connects again.
pub(super) async fn exchange(
    connection: &mut Option<Connection>,
    addr: &str,
    text: &str,
) -> Result<u16, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    if connection.is_none() {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
        let _ = stream.set_nodelay(true);
        *connection = Some(stream);
    }
    let Some(stream) = connection.as_mut() else {
        return Err("no connection".to_owned());
    };
    let mut frame = Vec::with_capacity(text.len() + 3);
    frame.push(0x0B);
    frame.extend_from_slice(text.as_bytes());
    frame.extend_from_slice(&[0x1C, 0x0D]);
    let outcome = async {
        stream.write_all(&frame).await?;
        let mut answer = Vec::new();
        let mut buf = [0u8; 8192];
        while !answer.ends_with(&[0x1C, 0x0D]) {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof));
            }
            if answer.len() + n > MAX_ANSWER_BYTES {
                return Err(std::io::Error::other("answer over 4 MiB"));
            }
            answer.extend_from_slice(&buf[..n]);
        }
        Ok(answer)
    }
    .await;
    let answer = match outcome {
        Ok(answer) => answer,
        Err(error) => {
            *connection = None;
            return Err(format!("MLLP exchange failed: {error}"));
        }
    };
    Ok(status_of(&answer))
}

/// The MSA-1 of a framed answer as a status (see [`exchange`]).
fn status_of(answer: &[u8]) -> u16 {
    let body = answer
        .strip_prefix(&[0x0B])
        .unwrap_or(answer)
        .strip_suffix(&[0x1C, 0x0D])
        .unwrap_or(answer);
    let text = String::from_utf8_lossy(body);
    let code = text
        .split(['\r', '\n'])
        .find_map(|s| s.strip_prefix("MSA|"))
        .and_then(|rest| rest.split('|').next())
        .unwrap_or("");
    match code {
        "AA" | "CA" => 200,
        "AE" | "CE" => 422,
        _ => 400,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acknowledgement_codes_become_statuses() {
        let ack = |code: &str| {
            format!("\x0BMSH|^~\\&|MPI|MPI|B|B|x||ACK^A01^ACK|1|P|2.5\rMSA|{code}|B1\r\x1C\x0D")
        };
        assert_eq!(status_of(ack("AA").as_bytes()), 200);
        assert_eq!(status_of(ack("CA").as_bytes()), 200);
        assert_eq!(status_of(ack("AE").as_bytes()), 422);
        assert_eq!(status_of(ack("AR").as_bytes()), 400);
        assert_eq!(status_of(b"\x0Bgarbage\x1C\x0D"), 400);
    }

    #[test]
    fn delimiters_are_dropped_from_values() {
        assert_eq!(clean("O'Brien|^~\\&x\r\n"), "O'Brienx");
    }
}
