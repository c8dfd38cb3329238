//! MLLP framing (`0x0B` message `0x1C 0x0D`) as a tokio-util codec, written here because the one
//! published codec (`hl7-mllp-codec` 0.4) has no size bound, rescans its whole buffer on every
//! read, drops a second frame that arrives in the same read, and logs message bytes (PHI).
//!
//! The decoder never holds more than `max_frame` bytes of one message: a frame that grows past it
//! is skipped to its end marker and reported as [`Frame::TooLarge`], so the connection can answer
//! it and go on. Bytes outside a frame (noise between messages, a client's stray newline) are
//! dropped, as MLLP release 2 says a receiver does.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

/// Start of a block.
pub const START: u8 = 0x0B;
/// End of a block: file separator, then carriage return.
pub const END: [u8; 2] = [0x1C, 0x0D];

/// What the decoder read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// One whole message (the bytes between the markers).
    Message(Bytes),
    /// A message longer than the limit; its bytes were dropped.
    TooLarge {
        /// How many bytes the message had (at least), without the markers.
        size: usize,
    },
}

/// The MLLP codec with a size limit per message.
#[derive(Debug)]
pub struct MllpCodec {
    max_frame: usize,
    state: State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between frames: looking for `START`.
    Idle,
    /// Inside a frame whose content starts at buffer offset 0; `scanned` bytes hold no end marker.
    InFrame { scanned: usize },
    /// Inside a frame that is over the limit: dropping bytes until its end marker.
    Skipping { dropped: usize, last_was_fs: bool },
}

impl MllpCodec {
    /// A codec that accepts messages of at most `max_frame` bytes.
    pub fn new(max_frame: usize) -> Self {
        Self {
            max_frame,
            state: State::Idle,
        }
    }

    /// Whether the decoder is in the middle of a frame (for telling a clean close from a cut one).
    pub fn in_frame(&self) -> bool {
        self.state != State::Idle
    }
}

impl Decoder for MllpCodec {
    type Item = Frame;
    type Error = std::io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, std::io::Error> {
        loop {
            match self.state {
                State::Idle => match src.iter().position(|&b| b == START) {
                    Some(at) => {
                        src.advance(at + 1);
                        self.state = State::InFrame { scanned: 0 };
                    }
                    None => {
                        src.clear();
                        return Ok(None);
                    }
                },
                State::InFrame { scanned } => {
                    // The end marker may straddle the previous scan's edge: look one byte back.
                    let from = scanned.saturating_sub(1);
                    let found = src[from..]
                        .windows(2)
                        .position(|w| w == END)
                        .map(|i| i + from);
                    match found {
                        Some(end) if end <= self.max_frame => {
                            let message = src.split_to(end).freeze();
                            src.advance(END.len());
                            self.state = State::Idle;
                            return Ok(Some(Frame::Message(message)));
                        }
                        Some(end) => {
                            src.advance(end + END.len());
                            self.state = State::Idle;
                            return Ok(Some(Frame::TooLarge { size: end }));
                        }
                        None if src.len() > self.max_frame => {
                            // Keep the last byte: it may be the first half of the end marker.
                            let keep_fs = src.last() == Some(&END[0]);
                            let dropped = src.len();
                            src.clear();
                            self.state = State::Skipping {
                                dropped,
                                last_was_fs: keep_fs,
                            };
                        }
                        None => {
                            self.state = State::InFrame { scanned: src.len() };
                            return Ok(None);
                        }
                    }
                }
                State::Skipping {
                    dropped,
                    last_was_fs,
                } => {
                    if src.is_empty() {
                        return Ok(None);
                    }
                    if last_was_fs && src[0] == END[1] {
                        src.advance(1);
                        self.state = State::Idle;
                        return Ok(Some(Frame::TooLarge { size: dropped - 1 }));
                    }
                    match src.windows(2).position(|w| w == END) {
                        Some(end) => {
                            src.advance(end + END.len());
                            self.state = State::Idle;
                            return Ok(Some(Frame::TooLarge {
                                size: dropped + end,
                            }));
                        }
                        None => {
                            let last_was_fs = src.last() == Some(&END[0]);
                            let n = src.len();
                            src.clear();
                            self.state = State::Skipping {
                                dropped: dropped + n,
                                last_was_fs,
                            };
                            return Ok(None);
                        }
                    }
                }
            }
        }
    }
}

impl Encoder<&str> for MllpCodec {
    type Error = std::io::Error;

    fn encode(&mut self, message: &str, dst: &mut BytesMut) -> Result<(), std::io::Error> {
        Encoder::<&[u8]>::encode(self, message.as_bytes(), dst)
    }
}

/// A message already in the bytes of its character set (see [`crate::charset::wire`]).
impl Encoder<&[u8]> for MllpCodec {
    type Error = std::io::Error;

    fn encode(&mut self, message: &[u8], dst: &mut BytesMut) -> Result<(), std::io::Error> {
        dst.reserve(message.len() + 3);
        dst.put_u8(START);
        dst.put_slice(message);
        dst.put_slice(&END);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(codec: &mut MllpCodec, chunks: &[&[u8]]) -> Vec<Frame> {
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for chunk in chunks {
            buf.extend_from_slice(chunk);
            while let Some(frame) = codec.decode(&mut buf).unwrap() {
                out.push(frame);
            }
        }
        out
    }

    fn msg(s: &str) -> Frame {
        Frame::Message(Bytes::copy_from_slice(s.as_bytes()))
    }

    #[test]
    fn two_frames_in_one_read_are_both_decoded() {
        let mut codec = MllpCodec::new(100);
        let frames = decode_all(&mut codec, &[b"\x0bMSH|a\r\x1c\r\x0bMSH|b\r\x1c\r"]);
        assert_eq!(frames, vec![msg("MSH|a\r"), msg("MSH|b\r")]);
    }

    #[test]
    fn a_frame_split_at_every_byte_is_decoded_once() {
        let wire = b"noise\x0bMSH|x\x1c\r\n";
        let mut codec = MllpCodec::new(100);
        let chunks: Vec<&[u8]> = wire.chunks(1).collect();
        assert_eq!(decode_all(&mut codec, &chunks), vec![msg("MSH|x")]);
        assert!(!codec.in_frame());
    }

    #[test]
    fn an_oversized_frame_is_skipped_and_the_next_one_read() {
        let mut codec = MllpCodec::new(8);
        let big = format!("\x0b{}\x1c\r\x0bMSH|ok\x1c\r", "A".repeat(50));
        // Split so that the end marker straddles two reads.
        let (a, b) = big.as_bytes().split_at(52);
        let frames = decode_all(&mut codec, &[a, b]);
        assert_eq!(frames, vec![Frame::TooLarge { size: 50 }, msg("MSH|ok")]);
    }

    #[test]
    fn the_buffer_never_holds_more_than_the_limit_and_a_chunk() {
        let mut codec = MllpCodec::new(1024);
        let mut buf = BytesMut::new();
        buf.put_u8(START);
        for _ in 0..1000 {
            buf.extend_from_slice(&[b'x'; 512]);
            assert!(codec.decode(&mut buf).unwrap().is_none());
            assert!(buf.len() <= 1024 + 512);
        }
    }

    #[test]
    fn garbage_without_a_start_byte_is_dropped() {
        let mut codec = MllpCodec::new(16);
        let mut buf = BytesMut::from(&b"GET / HTTP/1.1\r\n\r\n"[..]);
        assert!(codec.decode(&mut buf).unwrap().is_none());
        assert!(buf.is_empty());
    }

    #[test]
    fn encode_wraps_in_markers() {
        let mut codec = MllpCodec::new(16);
        let mut dst = BytesMut::new();
        codec.encode("MSA|AA", &mut dst).unwrap();
        assert_eq!(&dst[..], b"\x0bMSA|AA\x1c\r");
    }
}
