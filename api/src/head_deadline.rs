//! Our own 408 for a slow request head, hand-written: actix-http answers it with an empty body.
//!
//! actix-http's HTTP/1 dispatcher answers a client too slow to send its first request head
//! itself (`poll_head_timer`: `Response::with_body(StatusCode::REQUEST_TIMEOUT, ())`, before any
//! request exists, so no middleware, error handler or `default_service` sees it), and offers
//! no hook to replace that answer (actix-http 3.20). So the deadline is kept here instead.
//!
//! [`HeadDeadline`] wraps each accepted connection (plain TCP, or TLS after its handshake)
//! between the socket and actix-http's dispatcher. Until the end of the first request head
//! (an empty line) has passed through it, it watches the bytes read (a scan of each byte of the
//! first head, nothing after it) and a timer; when the timer fires first, it writes the 408
//! itself (the JSON error body, or an OperationOutcome when the request line already shows a
//! `/fhir` target: see [`Answer::for_request_start`]), shuts the connection down and tells the
//! dispatcher the client is gone (end of stream), so the dispatcher closes it without a word
//! and the worker is free. Once the head is through, or the dispatcher writes an answer of its
//! own (a 400 for a malformed head), or the connection speaks HTTP/2, the adapter only passes
//! reads and writes on.
//!
//! actix-http's own head timer stays set, [`ACTIX_BACKSTOP`] later than ours (it reads a
//! cached clock, so it can fire up to 0.5 s early), because HTTP/2 uses the same setting as
//! its handshake timeout. Should it still fire first (a worker stalled past both deadlines), the dispatcher's
//! empty 408 is a write after our deadline: we answer instead and discard it.
//!
//! As in actix, only the first request of a connection has a head deadline (a later one has
//! the keep-alive timeout until its first byte, and no deadline after it).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::http::StatusCode;
use actix_web::http::header::HttpDate;
use actix_web::{HttpResponse, ResponseError};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use crate::error::ApiError;
use crate::fhir::operation_outcome::FhirError;

/// How much later than ours actix-http's own head timer is set.
pub const ACTIX_BACKSTOP: Duration = Duration::from_secs(1);

/// How many bytes of the request's start are kept to read its target from (a method, a space
/// and the start of the target, in absolute form too: `GET http://host:port/fhir/...`).
const START_KEPT: usize = 128;

/// A connection's stream, watched until its first request head is complete.
pub struct HeadDeadline<T> {
    io: T,
    state: State,
}

enum State {
    /// Waiting for the end of the first head.
    Watching {
        deadline: Pin<Box<Sleep>>,
        scan: HeadScan,
        start: [u8; START_KEPT],
        start_len: usize,
    },
    /// Writing our 408 (then flushing and shutting down the write side).
    Answering {
        answer: Vec<u8>,
        written: usize,
        flushed: bool,
    },
    /// Answered and shut down: reads see the end of the stream, writes are discarded.
    Closed,
    /// Not watched (the head is through, or HTTP/2): every call goes straight to the stream.
    Passed,
}

impl<T> HeadDeadline<T> {
    /// `io`, whose first request head must be complete within `timeout` from now.
    pub fn new(io: T, timeout: Duration) -> HeadDeadline<T> {
        HeadDeadline {
            io,
            state: State::Watching {
                deadline: Box::pin(tokio::time::sleep(timeout)),
                scan: HeadScan::default(),
                start: [0; START_KEPT],
                start_len: 0,
            },
        }
    }

    /// `io` unwatched (an HTTP/2 connection: actix-http's handshake timeout applies).
    pub fn unwatched(io: T) -> HeadDeadline<T> {
        HeadDeadline {
            io,
            state: State::Passed,
        }
    }
}

impl<T: AsyncWrite + Unpin> HeadDeadline<T> {
    /// Starts answering 408 (what the request's start shows decides the body's shape).
    fn start_answer(&mut self) {
        if let State::Watching {
            start, start_len, ..
        } = &self.state
        {
            let answer = Answer::for_request_start(&start[..*start_len]);
            tracing::debug!(
                fhir = matches!(answer, Answer::Fhir),
                "a client did not send its request head in time; answered 408"
            );
            self.state = State::Answering {
                answer: answer.bytes(),
                written: 0,
                flushed: false,
            };
        }
    }

    /// Drives the answer out; ready once it is written and the stream shut down (or failed:
    /// the client is gone either way).
    fn poll_answer(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            let State::Answering {
                answer,
                written,
                flushed,
            } = &mut self.state
            else {
                return Poll::Ready(());
            };
            let io = Pin::new(&mut self.io);
            let step = if *written < answer.len() {
                ready!(io.poll_write(cx, &answer[*written..])).and_then(|n| {
                    *written += n;
                    if n == 0 {
                        Err(io::ErrorKind::WriteZero.into())
                    } else {
                        Ok(())
                    }
                })
            } else if !*flushed {
                ready!(io.poll_flush(cx)).map(|()| *flushed = true)
            } else {
                let shut = ready!(io.poll_shutdown(cx));
                self.state = State::Closed;
                shut
            };
            if let Err(error) = step {
                tracing::debug!(%error, "the 408 for a slow request head was not delivered");
                self.state = State::Closed;
            }
        }
    }

    /// Before the dispatcher writes: a write while watching is an answer of its own (a 400
    /// for a malformed head), so watching ends; unless our deadline has passed, in which case
    /// it is actix-http's empty 408 and ours goes instead. Ready(true): pass the call on.
    fn poll_before_write(&mut self, cx: &mut Context<'_>) -> Poll<bool> {
        if let State::Watching { deadline, .. } = &self.state {
            if Instant::now() >= deadline.deadline() {
                self.start_answer();
            } else {
                self.state = State::Passed;
            }
        }
        match self.state {
            State::Passed => Poll::Ready(true),
            State::Answering { .. } => {
                ready!(self.poll_answer(cx));
                Poll::Ready(false)
            }
            State::Closed | State::Watching { .. } => Poll::Ready(false),
        }
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncRead for HeadDeadline<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match &mut this.state {
            State::Passed => return Pin::new(&mut this.io).poll_read(cx, buf),
            State::Closed => return Poll::Ready(Ok(())),
            State::Answering { .. } => {}
            State::Watching {
                deadline,
                scan,
                start,
                start_len,
            } => {
                let before = buf.filled().len();
                match Pin::new(&mut this.io).poll_read(cx, buf) {
                    Poll::Ready(Ok(())) => {
                        let read = &buf.filled()[before..];
                        let keep = read.len().min(START_KEPT - *start_len);
                        start[*start_len..*start_len + keep].copy_from_slice(&read[..keep]);
                        *start_len += keep;
                        // The end of the head, or of the stream: nothing left to watch.
                        if read.is_empty() || scan.feed(read) {
                            this.state = State::Passed;
                        }
                        return Poll::Ready(Ok(()));
                    }
                    Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                    Poll::Pending => {
                        // The timer is polled with the dispatcher's waker, so it wakes the
                        // dispatcher (which reads again) when it fires.
                        if deadline.as_mut().poll(cx).is_pending() {
                            return Poll::Pending;
                        }
                        this.start_answer();
                    }
                }
            }
        }
        ready!(this.poll_answer(cx));
        // The end of the stream: the dispatcher, with no request, closes the connection.
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncWrite for HeadDeadline<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if !matches!(this.state, State::Passed) && !ready!(this.poll_before_write(cx)) {
            // Ours is the answer: what the dispatcher writes now is discarded.
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut this.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if !matches!(this.state, State::Passed) && !ready!(this.poll_before_write(cx)) {
            return Poll::Ready(Ok(bufs.iter().map(|b| b.len()).sum()));
        }
        Pin::new(&mut this.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match this.state {
            State::Passed | State::Watching { .. } => Pin::new(&mut this.io).poll_flush(cx),
            State::Answering { .. } | State::Closed => {
                ready!(this.poll_answer(cx));
                Poll::Ready(Ok(()))
            }
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !matches!(this.state, State::Passed) && !ready!(this.poll_before_write(cx)) {
            // Our answer shut the stream down already.
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

/// Where the end of a request head is, as httparse (actix-http's parser) finds it: an empty
/// line, lines ending in CRLF or in a bare LF, after any empty lines before the request line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum HeadScan {
    /// Nothing but empty lines so far.
    #[default]
    Before,
    /// Inside a line.
    Text,
    /// Just after a line's end.
    LineEnd,
    /// A CR just after a line's end.
    LineEndCr,
}

impl HeadScan {
    /// Feeds the next bytes; true when the head ended within them.
    fn feed(&mut self, bytes: &[u8]) -> bool {
        for &b in bytes {
            *self = match (*self, b) {
                (HeadScan::Before, b'\r' | b'\n') => HeadScan::Before,
                (HeadScan::LineEnd | HeadScan::LineEndCr, b'\n') => return true,
                (HeadScan::LineEnd, b'\r') => HeadScan::LineEndCr,
                (_, b'\n') => HeadScan::LineEnd,
                _ => HeadScan::Text,
            };
        }
        false
    }
}

/// The 408's shape, decided by the request's start: the head is not parsed yet, so the
/// target is known only if the request line came far enough.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// The JSON error body of `/api/v1` (and of every target that is not `/fhir`, or not known).
    Json,
    /// An OperationOutcome: the request line shows a target under `/fhir`.
    Fhir,
}

impl Answer {
    /// `Fhir` when the request line's target (origin form, or the path of an absolute form)
    /// starts with `/fhir`, as the guard decides for parsed requests; otherwise `Json`.
    pub fn for_request_start(start: &[u8]) -> Answer {
        let line = start.trim_ascii_start();
        let mut words = line.split(|&b| b == b' ');
        let _method = words.next();
        let target = words.next().unwrap_or_default();
        let path = match target.windows(3).position(|w| w == b"://") {
            Some(at) => {
                let authority = &target[at + 3..];
                match authority.iter().position(|&b| b == b'/') {
                    Some(slash) => &authority[slash..],
                    None => b"",
                }
            }
            None => target,
        };
        if path.starts_with(b"/fhir") {
            Answer::Fhir
        } else {
            Answer::Json
        }
    }

    /// The error response, as the routes answer it.
    pub fn response(self) -> HttpResponse {
        match self {
            Answer::Json => ApiError::RequestTimeout.error_response(),
            Answer::Fhir => FhirError::from(ApiError::RequestTimeout).error_response(),
        }
    }

    /// The whole HTTP/1.1 answer: status line, the response's headers, a length, `Connection:
    /// close`, the date, and the body.
    pub fn bytes(self) -> Vec<u8> {
        let response = self.response();
        let status: StatusCode = response.status();
        let mut out = format!(
            "HTTP/1.1 {} {}\r\n",
            status.as_u16(),
            status.canonical_reason().unwrap_or_default()
        );
        for (name, value) in response.headers() {
            if let Ok(value) = value.to_str() {
                out.push_str(&format!("{name}: {value}\r\n"));
            }
        }
        let body = response.into_body().try_into_bytes().unwrap_or_default();
        out.push_str(&format!(
            "content-length: {}\r\nconnection: close\r\ndate: {}\r\n\r\n",
            body.len(),
            HttpDate::from(std::time::SystemTime::now())
        ));
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&body);
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_head_ends_at_an_empty_line_with_crlf_or_bare_lf_split_anywhere() {
        let heads: [&[u8]; 4] = [
            b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /health HTTP/1.1\nHost: x\n\n",
            b"\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\n",
            b"GET / HTTP/1.0\r\n\r\n",
        ];
        for head in heads {
            for split in 0..head.len() {
                let mut scan = HeadScan::default();
                let (a, b) = head.split_at(split);
                let ended_early = scan.feed(a);
                assert!(!ended_early, "{head:?} ended at {split}");
                assert!(scan.feed(b), "{head:?} split at {split}");
            }
        }
        let mut scan = HeadScan::default();
        assert!(
            !scan.feed(b"\r\n\r\n\n"),
            "empty lines before the request line"
        );
        assert!(!scan.feed(b"GET / HTTP/1.1\r\nHost: x\r\n\rX: y\r\n"));
        assert!(scan.feed(b"\r\n"));
    }

    #[test]
    fn the_answer_is_fhir_only_when_the_target_shows_fhir() {
        let fhir: [&[u8]; 5] = [
            b"GET /fhir/Patient?name=x HTTP/1.1\r\nHost",
            b"POST /fhir",
            b"\r\nGET /fhir/metadata",
            b"GET http://example.org:8080/fhir/Patient HTTP/1.1",
            b"GET /fhirx",
        ];
        for start in fhir {
            assert_eq!(Answer::for_request_start(start), Answer::Fhir, "{start:?}");
        }
        let json: [&[u8]; 7] = [
            b"",
            b"GET",
            b"GET ",
            b"GET /fh",
            b"GET /api/v1/patients HTTP/1.1",
            b"GET http://example.org/api/v1 HTTP/1.1",
            b"GET http://example.org",
        ];
        for start in json {
            assert_eq!(Answer::for_request_start(start), Answer::Json, "{start:?}");
        }
    }

    #[test]
    fn the_answers_carry_the_error_bodies() {
        let text = String::from_utf8(Answer::Json.bytes()).unwrap();
        assert!(
            text.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
            "{text}"
        );
        assert!(
            text.contains("content-type: application/json\r\n"),
            "{text}"
        );
        assert!(text.contains("connection: close\r\n"), "{text}");
        let (_, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(text.contains(&format!("content-length: {}\r\n", body.len())));
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["code"], "request_timeout");
        assert!(body["field"].is_null());

        let text = String::from_utf8(Answer::Fhir.bytes()).unwrap();
        assert!(
            text.contains("content-type: application/fhir+json"),
            "{text}"
        );
        let (_, body) = text.split_once("\r\n\r\n").unwrap();
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["resourceType"], "OperationOutcome");
        assert_eq!(body["issue"][0]["code"], "timeout");
        assert_eq!(body["issue"][0]["details"]["text"], "request_timeout");
    }
}
