//! A panic in one request costs that request, never the daemon.
//!
//! berthd is built to unwind (see the release profile in the workspace's
//! Cargo.toml): tokio already keeps a panicking task from taking the runtime
//! down, but a panic in a request handler would only drop the client's
//! connection, which the client sees as a transport error with no reason.
//! [`PanicGuardLayer`] wraps every gRPC call: a panic while the call is
//! served becomes a `Code::Internal` status naming the method, the panic is
//! logged, and the daemon goes on serving every other request and
//! supervising every container.
//!
//! For tests, `BERTHD_TEST_PANIC_IN=/berth.v1.System/Version` (read once at
//! start) makes every call of that method panic inside its served future,
//! where a bug in its handler would.

use futures_util::FutureExt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tonic::codegen::http;

/// The tower layer installed on berthd's gRPC server.
#[derive(Clone, Default)]
pub struct PanicGuardLayer {
    /// The method path that panics on purpose (tests only).
    test_panic_in: Option<Arc<str>>,
}

impl PanicGuardLayer {
    /// The layer, with the test hook armed from `BERTHD_TEST_PANIC_IN`.
    pub fn from_env() -> PanicGuardLayer {
        PanicGuardLayer {
            test_panic_in: std::env::var("BERTHD_TEST_PANIC_IN")
                .ok()
                .filter(|p| !p.is_empty())
                .map(Arc::from),
        }
    }
}

impl<S> tower::Layer<S> for PanicGuardLayer {
    type Service = PanicGuard<S>;

    fn layer(&self, inner: S) -> PanicGuard<S> {
        PanicGuard {
            inner,
            test_panic_in: self.test_panic_in.clone(),
        }
    }
}

/// The service [`PanicGuardLayer`] wraps around the gRPC routes.
#[derive(Clone)]
pub struct PanicGuard<S> {
    inner: S,
    test_panic_in: Option<Arc<str>>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B> tower::Service<http::Request<B>> for PanicGuard<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let method = request.uri().path().to_string();
        let method_for_panic = method.clone();
        let panic_on_purpose = self.test_panic_in.as_deref() == Some(method.as_str());
        let served = std::panic::catch_unwind(AssertUnwindSafe(|| self.inner.call(request)));
        Box::pin(async move {
            let outcome = match served {
                Ok(future) => {
                    AssertUnwindSafe(async move {
                        if panic_on_purpose {
                            panic!("BERTHD_TEST_PANIC_IN={method_for_panic}: panicking on purpose");
                        }
                        future.await
                    })
                    .catch_unwind()
                    .await
                }
                Err(payload) => Err(payload),
            };
            match outcome {
                Ok(served) => served,
                Err(payload) => {
                    let what = panic_message(payload.as_ref());
                    tracing::error!(method, panic = what, "request handler panicked");
                    let status = tonic::Status::internal(format!(
                        "internal error: {method} panicked: {what}"
                    ));
                    Ok(status.into_http())
                }
            }
        })
    }
}

/// The text a panic was raised with (`panic!("...")` gives a `&str` or a
/// `String`).
fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}
