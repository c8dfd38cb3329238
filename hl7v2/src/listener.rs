//! The MLLP listener: accepts connections (at most `max_connections` at once; more wait in the
//! kernel's backlog), reads framed messages one after the other, answers each on the same
//! connection in order, and closes a connection that stays silent past the idle timeout.
//! Each connection holds at most one message's bytes plus one read buffer. With a TLS
//! configuration every connection is TLS (and, when it asks for one, with a client certificate
//! from its CA); a handshake that fails or takes longer than the idle timeout closes it.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::codec::Framed;

use crate::dispatch::Dispatcher;
use crate::mllp::{Frame, MllpCodec};

/// Limits of the listener.
#[derive(Debug, Clone)]
pub struct ListenerConfig {
    /// The largest message accepted, in bytes (without the MLLP markers).
    pub max_message_bytes: usize,
    /// A connection with no complete message for this long is closed.
    pub idle_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
    /// TLS for every connection (`None`: plain TCP).
    pub tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
}

impl Default for ListenerConfig {
    fn default() -> Self {
        Self {
            max_message_bytes: 1024 * 1024,
            idle_timeout: Duration::from_secs(300),
            max_connections: 256,
            tls: None,
        }
    }
}

/// Serves MLLP on `listener` until `shutdown` completes; connections in progress finish the
/// message they are handling and are then closed.
pub async fn serve(
    listener: TcpListener,
    dispatcher: Arc<Dispatcher>,
    config: ListenerConfig,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(config.max_connections.max(1)));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            _ = &mut shutdown => break,
            permit = Arc::clone(&slots).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!(%error, "MLLP accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let dispatcher = Arc::clone(&dispatcher);
        let config = config.clone();
        let stop = stop_rx.clone();
        let acceptor = config.tls.clone().map(tokio_rustls::TlsAcceptor::from);
        tokio::spawn(async move {
            match acceptor {
                None => serve_connection(stream, peer, dispatcher, &config, stop).await,
                Some(acceptor) => {
                    let handshake =
                        tokio::time::timeout(config.idle_timeout, acceptor.accept(stream)).await;
                    match handshake {
                        Ok(Ok(stream)) => {
                            serve_connection(stream, peer, dispatcher, &config, stop).await;
                        }
                        Ok(Err(error)) => {
                            tracing::info!(%peer, %error, "MLLP TLS handshake failed");
                        }
                        Err(_) => tracing::info!(%peer, "MLLP TLS handshake timed out"),
                    }
                }
            }
            drop(permit);
        });
    }
    let _ = stop_tx.send(true);
    // Wait (briefly) for the connections to finish the message in hand.
    let _ = tokio::time::timeout(
        Duration::from_secs(10),
        slots.acquire_many(config.max_connections.max(1) as u32),
    )
    .await;
}

/// Reads and answers messages on one connection (plain TCP or TLS) until the peer closes it,
/// it idles out, or the listener stops.
pub async fn serve_connection<S>(
    stream: S,
    peer: SocketAddr,
    dispatcher: Arc<Dispatcher>,
    config: &ListenerConfig,
    mut stop: tokio::sync::watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut framed = Framed::new(stream, MllpCodec::new(config.max_message_bytes));
    loop {
        let next = tokio::select! {
            _ = stop.changed() => break,
            next = tokio::time::timeout(config.idle_timeout, framed.next()) => next,
        };
        let frame = match next {
            Err(_) => {
                tracing::debug!(%peer, "MLLP connection idle; closing");
                break;
            }
            Ok(None) => break,
            Ok(Some(Err(error))) => {
                tracing::debug!(%peer, %error, "MLLP connection failed");
                break;
            }
            Ok(Some(Ok(frame))) => frame,
        };
        let answer = match frame {
            Frame::Message(bytes) => dispatcher.answer(&bytes, peer).await,
            Frame::TooLarge { size } => {
                dispatcher
                    .too_large_audited(size, config.max_message_bytes, peer)
                    .await
            }
        };
        // In the character set the answer's MSH-18 names (UTF-8 without one).
        let bytes = crate::charset::wire(&answer);
        if let Err(error) = framed.send(bytes.as_slice()).await {
            tracing::debug!(%peer, %error, "MLLP answer not delivered");
            break;
        }
    }
}
