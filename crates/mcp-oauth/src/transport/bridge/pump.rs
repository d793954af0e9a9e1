//! Moving messages both ways once the transport is up, with the host's
//! input read no faster than the server takes it.

use std::{collections::HashSet, pin::Pin, task::Poll, time::Duration};

use futures::{StreamExt, stream::FuturesUnordered};
use rmcp::{
    RoleClient,
    model::{ClientJsonRpcMessage, ClientNotification, RequestId, ServerJsonRpcMessage},
    transport::Transport,
};
use tokio::io::{AsyncBufRead, AsyncWrite};

use super::{
    Reporter,
    input::{FromHost, HostInput},
    output::{local_error, reply_error, write_line, write_raw},
    request_id,
};
use crate::{Result, transport::MAX_MESSAGE_BYTES};

/// How long answers to requests in flight are awaited after stdin closes.
pub(super) const DRAIN_TIME: Duration = Duration::from_secs(30);

/// How many of the host's messages may be on their way to the server at
/// once, and how many bytes of them: past either, stdin waits (and a host
/// that writes on waits for the pipe), instead of a queue that grows as
/// long as the host writes.
const MAX_IN_FLIGHT: usize = 64;
const MAX_IN_FLIGHT_BYTES: usize = 2 * MAX_MESSAGE_BYTES;

/// Moves messages both ways until either side ends.
pub(super) async fn pump<T, R, W>(
    mut remote: T,
    first: Option<ClientJsonRpcMessage>,
    mut input: HostInput<R>,
    mut output: W,
    mut pending: HashSet<RequestId>,
    mut shutdown: Pin<&mut impl Future<Output = ()>>,
    mut reporter: Reporter,
) -> Result<()>
where
    T: Transport<RoleClient>,
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut in_flight = InFlight::default();
    if let Some(first) = first {
        track(&mut pending, &first);
        if let Some(sent) = in_flight.start(&mut remote, first, 0).await {
            failed(sent, &mut pending, &mut output, &reporter).await?;
        }
    }
    // When the host closes stdin, its requests still in flight are answered
    // (within a bound) before the bridge closes.
    let mut input_open = true;
    let mut drain_until = tokio::time::Instant::now();
    let mut waiting = false;
    loop {
        if !input_open && pending.is_empty() {
            break;
        }
        let reading = input_open && in_flight.has_room();
        if input_open && !reading && !waiting {
            tracing::debug!(
                messages = in_flight.sends.len(),
                bytes = in_flight.bytes,
                "the server has yet to take the host's last messages: reading stdin waits"
            );
        }
        waiting = input_open && !reading;
        tokio::select! {
            line = input.next(), if reading => match line.map_err(|error| local_error(&error))? {
                Some(FromHost::Message(message, size)) => {
                    tracing::trace!(?message, "from the host");
                    if let Some(refusal) = reporter.ignored.refusal(&message) {
                        write_line(&mut output, &refusal).await?;
                        continue;
                    }
                    track(&mut pending, &message);
                    if let Some(sent) = in_flight.start(&mut remote, *message, size).await {
                        failed(sent, &mut pending, &mut output, &reporter).await?;
                    }
                }
                Some(FromHost::Refusal(answer)) => write_raw(&mut output, &answer).await?,
                None => {
                    tracing::debug!(pending = pending.len(), "the host closed its input");
                    input_open = false;
                    drain_until = tokio::time::Instant::now() + DRAIN_TIME;
                }
            },
            incoming = remote.receive() => match incoming {
                Some(message) => {
                    tracing::trace!(?message, "from the server");
                    let message = reporter.ignored.filter(message);
                    if let Some(id) = answered(&message) {
                        pending.remove(id);
                    }
                    write_line(&mut output, &message).await?;
                }
                None => {
                    tracing::info!("the remote server closed the connection");
                    break;
                }
            },
            Some(sent) = in_flight.sends.next(), if !in_flight.sends.is_empty() => {
                in_flight.bytes -= sent.size;
                failed(sent, &mut pending, &mut output, &reporter).await?;
            }
            () = shutdown.as_mut() => {
                tracing::info!("shutting down");
                break;
            }
            () = tokio::time::sleep_until(drain_until), if !input_open => {
                tracing::warn!(unanswered = pending.len(), "closing with requests unanswered");
                break;
            }
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), remote.close()).await;
    Ok(())
}

/// The host's messages the transport has yet to take.
struct InFlight<E> {
    sends: FuturesUnordered<Pin<Box<dyn Future<Output = Sent<E>> + Send>>>,
    bytes: usize,
}

impl<E> Default for InFlight<E> {
    fn default() -> Self {
        Self {
            sends: FuturesUnordered::new(),
            bytes: 0,
        }
    }
}

/// How handing one message to the transport ended.
struct Sent<E> {
    /// The request it was, if it was one.
    request: Option<RequestId>,
    size: usize,
    outcome: std::result::Result<(), E>,
}

impl<E: Send + 'static> InFlight<E> {
    fn has_room(&self) -> bool {
        self.sends.len() < MAX_IN_FLIGHT && self.bytes < MAX_IN_FLIGHT_BYTES
    }

    /// Hands `message` (of `size` bytes) to the transport. Sends run
    /// concurrently (a slow tool call must not hold back others), but each
    /// is handed over in the host's order: polled once here, which queues
    /// it, then finished among the others. Returns how it went when it
    /// ended at once.
    async fn start<T>(
        &mut self,
        remote: &mut T,
        message: ClientJsonRpcMessage,
        size: usize,
    ) -> Option<Sent<E>>
    where
        T: Transport<RoleClient, Error = E>,
    {
        let request = request_id(&message);
        let sending = remote.send(message);
        let mut sending: Pin<Box<dyn Future<Output = Sent<E>> + Send>> = Box::pin(async move {
            Sent {
                request,
                size,
                outcome: sending.await,
            }
        });
        match futures::poll!(sending.as_mut()) {
            Poll::Ready(sent) => Some(sent),
            Poll::Pending => {
                self.bytes += size;
                self.sends.push(sending);
                None
            }
        }
    }
}

/// Tells the host of a message that did not reach the server: a request is
/// answered with the cause; anything else can only be logged.
async fn failed<E, W>(
    sent: Sent<E>,
    pending: &mut HashSet<RequestId>,
    output: &mut W,
    reporter: &Reporter,
) -> Result<()>
where
    E: std::error::Error + 'static,
    W: AsyncWrite + Unpin,
{
    let Err(error) = sent.outcome else {
        return Ok(());
    };
    let reason = reporter.reason(&error);
    match sent.request {
        Some(id) => {
            pending.remove(&id);
            reply_error(output, id, &reason).await
        }
        None => {
            tracing::warn!(reason, "could not forward a message");
            Ok(())
        }
    }
}

/// Keeps `pending` up to date with a message from the host: a request
/// awaits its answer; a request the host cancelled awaits nothing (the
/// transport drops it, and the host ignores any late answer anyway).
fn track(pending: &mut HashSet<RequestId>, message: &ClientJsonRpcMessage) {
    match message {
        ClientJsonRpcMessage::Request(request) => {
            pending.insert(request.id.clone());
        }
        ClientJsonRpcMessage::Notification(notification) => {
            if let ClientNotification::CancelledNotification(cancelled) = &notification.notification
                && let Some(id) = &cancelled.params.request_id
            {
                pending.remove(id);
            }
        }
        _ => {}
    }
}

/// The request a server message answers, if it is an answer.
fn answered(message: &ServerJsonRpcMessage) -> Option<&RequestId> {
    match message {
        ServerJsonRpcMessage::Response(response) => Some(&response.id),
        ServerJsonRpcMessage::Error(error) => error.id.as_ref(),
        _ => None,
    }
}
