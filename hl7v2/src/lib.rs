//! HL7 v2 over MLLP, a room of its own: MLLP framing (`mllp`), decoding and parsing inbound
//! messages (`inbound`), their character sets (`charset`), code tables both ways (`codes`), the typed encoder for answers (`encode`), acknowledgements and error
//! segments (`ack`), routing messages to transactions (`dispatch`) and the TCP listener
//! (`listener`), who sent a message (`source`) and the transactions: ITI-8 patient identity
//! feed (`feed`, reading PID with `pid`) ITI-9 PIX query (`pix_query`) and ITI-21
//! PDQ query (`pdq_query`), and ITI-10 PIX update notifications
//! sent to subscribed consumers from the durable outbox (`notify`). It knows no HTTP; its transactions call the same `service` use cases as the
//! REST and FHIR faces.

pub mod ack;
pub mod charset;
pub mod codes;
pub mod dispatch;
pub mod encode;
pub mod feed;
pub mod inbound;
pub mod listener;
pub mod mllp;
pub mod notify;
pub mod pdq_query;
pub mod pid;
pub mod pix_query;
pub mod source;

pub use dispatch::{Dispatcher, Observer};
pub use feed::FeedConfig;
pub use listener::{ListenerConfig, serve};
pub use notify::NotifyConfig;
