//! The client's side of quotas: a unary call refused `RESOURCE_EXHAUSTED`
//! with a `RetryInfo` delay is sent again after that delay, a bounded
//! number of times. Request streams pass through untouched: they are
//! paced by the server, not refused for their rate, and cannot be
//! replayed.

use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use http::{Request, Response};
use http_body::{Body as HttpBody, Frame};
use tonic::{Code, Status, body::Body, codegen::Bytes};
use tonic_types::StatusExt;
use tower::{Service, ServiceExt};

use super::Shapes;

/// Sends after a refusal, at most, beyond the first.
pub const MAX_RETRIES: u32 = 8;
/// The longest delay waited out; a refusal asking for more is returned.
pub const MAX_DELAY: Duration = Duration::from_secs(30);

/// `inner`, its unary calls retried as the server's `RetryInfo` says.
#[derive(Clone)]
pub struct RetryQuota<S> {
    inner: S,
    shapes: Arc<Shapes>,
}

impl<S> RetryQuota<S> {
    pub fn new(inner: S) -> Self {
        let shapes = Shapes::of(&[talent_proto::FILE_DESCRIPTOR_SET])
            .expect("talent's own descriptor set decodes");
        Self {
            inner,
            shapes: Arc::new(shapes),
        }
    }
}

/// The delay a response asks for before the same call is sent again: a
/// `RESOURCE_EXHAUSTED` status in its headers (a refusal is answered
/// before any message) with a `RetryInfo` of at most [`MAX_DELAY`].
pub fn retry_delay<B>(response: &Response<B>) -> Option<Duration> {
    let status = Status::from_header_map(response.headers())?;
    if status.code() != Code::ResourceExhausted {
        return None;
    }
    status
        .get_details_retry_info()?
        .retry_delay
        .filter(|delay| *delay <= MAX_DELAY)
}

type BoxFuture<T> = Pin<Box<dyn std::future::Future<Output = T> + Send>>;

impl<S> Service<Request<Body>> for RetryQuota<S>
where
    S: Service<Request<Body>, Response = Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response<Body>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        // The clone that was readied is the one called (tower's rule).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        if self.shapes.get(request.uri().path()).client_streaming {
            return Box::pin(inner.call(request));
        }
        Box::pin(async move {
            let (parts, mut body) = request.into_parts();
            let mut message = Vec::new();
            while let Some(frame) =
                std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
            {
                match frame {
                    Ok(frame) => {
                        if let Some(data) = frame.data_ref() {
                            message.extend_from_slice(data);
                        }
                    }
                    // The message could not be encoded: nothing was sent.
                    Err(status) => return Ok(status.into_http()),
                }
            }
            let message = Bytes::from(message);
            let mut retries = 0;
            loop {
                let mut again = Request::new(Body::new(Once(Some(message.clone()))));
                *again.method_mut() = parts.method.clone();
                *again.uri_mut() = parts.uri.clone();
                *again.version_mut() = parts.version;
                *again.headers_mut() = parts.headers.clone();
                let response = inner.ready().await?.call(again).await?;
                match retry_delay(&response) {
                    Some(delay) if retries < MAX_RETRIES => {
                        retries += 1;
                        tokio::time::sleep(delay).await;
                    }
                    _ => return Ok(response),
                }
            }
        })
    }
}

/// A request body of one chunk.
struct Once(Option<Bytes>);

impl HttpBody for Once {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        Poll::Ready(self.0.take().map(|data| Ok(Frame::data(data))))
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_none()
    }
}

#[cfg(test)]
mod tests {
    use std::{
        convert::Infallible,
        sync::{Arc, Mutex},
    };

    use tonic_types::ErrorDetails;

    use super::*;

    /// Refuses the first `refusals` calls with a delay, then answers OK;
    /// records every body it was sent.
    #[derive(Clone)]
    struct Refusing {
        refusals: usize,
        delay: Duration,
        seen: Arc<Mutex<Vec<Bytes>>>,
    }

    impl Service<Request<Body>> for Refusing {
        type Response = Response<Body>;
        type Error = Infallible;
        type Future = BoxFuture<Result<Response<Body>, Infallible>>;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }
        fn call(&mut self, request: Request<Body>) -> Self::Future {
            let this = self.clone();
            Box::pin(async move {
                let mut body = request.into_body();
                let mut sent = Vec::new();
                while let Some(Ok(frame)) =
                    std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
                {
                    sent.extend_from_slice(frame.data_ref().unwrap());
                }
                let mut seen = this.seen.lock().unwrap();
                seen.push(Bytes::from(sent));
                if seen.len() <= this.refusals {
                    let mut details = ErrorDetails::with_retry_info(Some(this.delay));
                    details.add_quota_failure_violation("platforms/p", "over");
                    let status =
                        Status::with_error_details(Code::ResourceExhausted, "over", details);
                    return Ok(status.into_http());
                }
                Ok(Status::ok("").into_http())
            })
        }
    }

    async fn call(refusals: usize, delay: Duration) -> (Code, Vec<Bytes>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let service = RetryQuota::new(Refusing {
            refusals,
            delay,
            seen: seen.clone(),
        });
        let request = Request::builder()
            .uri("/talent.recruiting.v1.EmployerService/BatchUpsertEmployers")
            .body(Body::new(Once(Some(Bytes::from_static(b"message")))))
            .unwrap();
        let response = service.oneshot(request).await.unwrap();
        let code = Status::from_header_map(response.headers()).unwrap().code();
        let seen = seen.lock().unwrap().clone();
        (code, seen)
    }

    #[tokio::test(start_paused = true)]
    async fn a_refused_unary_call_is_sent_again_after_the_delay() {
        let started = tokio::time::Instant::now();
        let (code, seen) = call(3, Duration::from_secs(2)).await;
        assert_eq!(code, Code::Ok);
        assert_eq!(seen.len(), 4);
        assert!(seen.iter().all(|body| body == "message"), "{seen:?}");
        assert_eq!(started.elapsed(), Duration::from_secs(6));
    }

    #[tokio::test(start_paused = true)]
    async fn retries_are_bounded() {
        let (code, seen) = call(100, Duration::from_secs(1)).await;
        assert_eq!(code, Code::ResourceExhausted);
        assert_eq!(seen.len(), 1 + MAX_RETRIES as usize);
        // A delay longer than the command waits is returned at once.
        let (code, seen) = call(1, MAX_DELAY + Duration::from_secs(1)).await;
        assert_eq!(code, Code::ResourceExhausted);
        assert_eq!(seen.len(), 1);
    }
}
