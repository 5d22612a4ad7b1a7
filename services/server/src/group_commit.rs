//! Group commit for client-streaming batch methods (`UpsertPostings`,
//! `UpsertResumes`, `PublishEvents`): one way for every service to turn a
//! stream of batch messages into a stream of answers, with the messages
//! that wait when the store becomes free written in one transaction.

use std::pin::Pin;

use futures::{Stream, future::BoxFuture};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Status, Streaming};
use tracing::Instrument;

use crate::CancellationToken;

/// The answers of a streaming batch method.
pub type AnswerStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// Serves a stream of batch messages in two stages joined by a queue, so
/// that the reading task decodes and checks the next messages (`prepare`)
/// while the writing task has earlier ones in the store (`store`).
///
/// Group commit: the messages that are already prepared and waiting when
/// the store becomes free (up to `group`) go to `store` together, which
/// applies them in order in one transaction and returns one answer per
/// message. A client that keeps several messages in flight then pays one
/// transaction (one commit, one set of reads and writes) per group instead
/// of per message; a client that waits for each answer still gets its
/// message stored alone, at once. Answers keep the order of the messages,
/// each sent after its group committed.
///
/// The first error ends the stream after the answers before it: a message
/// that `prepare` refuses or a broken stream, after the messages before it
/// are stored; a group `store` fails, with nothing of the group written.
/// When `draining` is cancelled the messages already read are finished,
/// then the stream ends with `UNAVAILABLE` and the client reconnects (to
/// another replica). Both stages run in the caller's span, so their log
/// lines carry the call's request id.
pub fn serve<In, P, Out, E>(
    inbound: Streaming<In>,
    draining: CancellationToken,
    group: usize,
    prepare: impl Fn(In) -> Result<P, E> + Send + 'static,
    store: impl Fn(Vec<P>) -> BoxFuture<'static, Result<Vec<Out>, Status>> + Send + 'static,
) -> AnswerStream<Out>
where
    In: Send + 'static,
    P: Send + 'static,
    Out: Send + 'static,
    E: Into<Status> + Send + 'static,
{
    let group = group.max(1);
    let mut to_store = read_prepared(inbound, draining, prepare, group);
    let (answers, receiver) = mpsc::channel(group.max(2));
    tokio::spawn(
        async move {
            while let Some(first) = to_store.recv().await {
                let (group, failed) = take_group(first, &mut to_store, group);
                if !group.is_empty() {
                    match store(group).await {
                        Ok(outs) => {
                            for out in outs {
                                if answers.send(Ok(out)).await.is_err() {
                                    return;
                                }
                            }
                        }
                        Err(err) => {
                            let _ = answers.send(Err(err)).await;
                            return;
                        }
                    }
                }
                if let Some(err) = failed {
                    let _ = answers.send(Err(err)).await;
                    return;
                }
            }
        }
        .in_current_span(),
    );
    Box::pin(ReceiverStream::new(receiver))
}

/// `first` and the prepared messages already waiting behind it, up to
/// `max` messages; a waiting error ends the group and is returned beside
/// it (nothing after it is taken).
fn take_group<P>(
    first: Result<P, Status>,
    waiting: &mut mpsc::Receiver<Result<P, Status>>,
    max: usize,
) -> (Vec<P>, Option<Status>) {
    let mut group = Vec::with_capacity(max);
    let mut next = Some(first);
    while let Some(item) = next.take() {
        match item {
            Ok(message) => group.push(message),
            Err(err) => return (group, Some(err)),
        }
        if group.len() < max {
            next = waiting.try_recv().ok();
        }
    }
    (group, None)
}

/// Spawns the reading stage: each inbound message is prepared and queued
/// (at most `queue` waiting); the first error is queued last.
fn read_prepared<In, P, E>(
    mut inbound: Streaming<In>,
    draining: CancellationToken,
    prepare: impl Fn(In) -> Result<P, E> + Send + 'static,
    queue: usize,
) -> mpsc::Receiver<Result<P, Status>>
where
    In: Send + 'static,
    P: Send + 'static,
    E: Into<Status> + Send + 'static,
{
    let (prepared, to_store) = mpsc::channel::<Result<P, Status>>(queue);
    tokio::spawn(
        async move {
            loop {
                let item = tokio::select! {
                    next = inbound.message() => match next {
                        Ok(Some(message)) => prepare(message).map_err(Into::into),
                        Ok(None) => break,
                        Err(err) => Err(err),
                    },
                    () = draining.cancelled() => {
                        Err(Status::unavailable("the service is shutting down; reconnect to go on"))
                    }
                };
                let last = item.is_err();
                if prepared.send(item).await.is_err() || last {
                    break;
                }
            }
        }
        .in_current_span(),
    );
    to_store
}

#[cfg(test)]
mod tests {
    use tonic::{Code, Status};

    use super::take_group;

    /// A queue holding `items`, as the reading stage leaves it.
    fn queued(items: Vec<Result<u32, Status>>) -> tokio::sync::mpsc::Receiver<Result<u32, Status>> {
        let (sender, receiver) = tokio::sync::mpsc::channel(16);
        for item in items {
            sender.try_send(item).expect("room in the queue");
        }
        receiver
    }

    #[test]
    fn a_group_takes_what_waits_up_to_its_size() {
        let mut waiting = queued((2..=6).map(Ok).collect());
        let (group, failed) = take_group(Ok(1), &mut waiting, 4);
        assert_eq!(group, [1, 2, 3, 4]);
        assert!(failed.is_none());
        let (group, failed) = take_group(waiting.try_recv().unwrap(), &mut waiting, 4);
        assert_eq!(group, [5, 6]);
        assert!(failed.is_none());
    }

    #[test]
    fn a_message_with_nothing_behind_it_is_a_group_of_one() {
        let mut waiting = queued(Vec::new());
        let (group, failed) = take_group(Ok(7), &mut waiting, 4);
        assert_eq!(group, [7]);
        assert!(failed.is_none());
    }

    #[test]
    fn an_error_ends_the_group_and_nothing_after_it_is_taken() {
        let mut waiting = queued(vec![
            Ok(2),
            Err(Status::invalid_argument("bad message")),
            Ok(4),
        ]);
        let (group, failed) = take_group(Ok(1), &mut waiting, 4);
        assert_eq!(group, [1, 2]);
        assert_eq!(failed.map(|s| s.code()), Some(Code::InvalidArgument));
        assert_eq!(waiting.try_recv().ok().map(Result::unwrap), Some(4));

        let (group, failed) = take_group(Err(Status::unavailable("closing")), &mut waiting, 4);
        assert!(group.is_empty());
        assert_eq!(failed.map(|s| s.code()), Some(Code::Unavailable));
    }
}
