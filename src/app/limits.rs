//! Bounds on what one client can hold: a total deadline on reading a request body, a cap on
//! concurrent connections per client IP, and the process's open-file limit.
//!
//! actix bounds the header read (`client_request_timeout`), idle keep-alive and the
//! disconnect, but a body may trickle in forever, one chunk just inside each idle timeout.
//! [`body_deadline`] wraps every request's payload in a stream that fails once the deadline
//! passes; the request is then answered 408 and its connection closed. A response sent
//! before its body was read to the end (a `GET /health` carrying a chunked body) also closes
//! the connection, so the server never keeps draining a body nobody asked for.

use std::cell::Cell;
use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Extensions, Payload, Service, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpMessage, ResponseError};
use futures_util::Stream;

use crate::api::PeerSocket;
use crate::error::{ApiError, ErrorCode};

/// How a request's body fared under the deadline.
#[derive(Default)]
struct BodyState {
    /// The body was read to its end (or there was none).
    finished: Cell<bool>,
    /// The deadline passed while the body was still arriving.
    expired: Cell<bool>,
}

/// The request's payload, failing once `deadline` has passed.
struct Deadline {
    inner: Payload,
    sleep: Pin<Box<actix_web::rt::time::Sleep>>,
    state: Rc<BodyState>,
    secs: u64,
}

impl Stream for Deadline {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.state.finished.get() {
            return Poll::Ready(None);
        }
        if self.state.expired.get() || self.sleep.as_mut().poll(cx).is_ready() {
            self.state.expired.set(true);
            let message = format!("request body not received within {} s", self.secs);
            return Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                message,
            )))));
        }
        let polled = Pin::new(&mut self.inner).poll_next(cx);
        if let Poll::Ready(None) = polled {
            self.state.finished.set(true);
        }
        polled
    }
}

/// True when the request announces no body at all.
fn has_no_body(req: &ServiceRequest) -> bool {
    let headers = req.headers();
    if headers.contains_key(header::TRANSFER_ENCODING) {
        return false;
    }
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .is_none_or(|n| n == 0)
}

type Answer<B> =
    Pin<Box<dyn Future<Output = Result<ServiceResponse<EitherBody<B>>, actix_web::Error>>>>;

/// The middleware (for `App::wrap_fn`): every body must arrive within `limit` of the
/// request's head.
pub fn body_deadline<S, B>(
    limit: Duration,
) -> impl Fn(ServiceRequest, &S) -> Answer<B> + Clone + 'static
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    S::Future: 'static,
    B: MessageBody + 'static,
{
    move |mut req: ServiceRequest, service: &S| {
        let state = Rc::new(BodyState::default());
        if has_no_body(&req) {
            state.finished.set(true);
        } else {
            let inner = req.take_payload();
            let stream = Deadline {
                inner,
                sleep: Box::pin(actix_web::rt::time::sleep(limit)),
                state: state.clone(),
                secs: limit.as_secs(),
            };
            req.set_payload(Payload::Stream {
                payload: Box::pin(stream),
            });
        }
        let call = service.call(req);
        Box::pin(async move {
            let response = call.await?;
            if state.expired.get() {
                let (request, _) = response.into_parts();
                log::info!(
                    "{} {}: request body not received within {} s; closing the connection",
                    request.method(),
                    request.path(),
                    limit.as_secs()
                );
                let mut refused = ApiError::new(
                    ErrorCode::RequestTimeout,
                    format!("Request body not received within {} s", limit.as_secs()),
                )
                .error_response();
                close(refused.head_mut());
                stop_reading(&request);
                return Ok(ServiceResponse::new(request, refused).map_into_right_body());
            }
            let mut response = response.map_into_left_body();
            if !state.finished.get() {
                // The handler answered without reading the whole body: close the connection
                // after the response instead of draining the body.
                close(response.response_mut().head_mut());
                stop_reading(response.request());
            }
            Ok(response)
        })
    }
}

/// actix drains an unread chunked body before it closes a connection, however long the body
/// trickles: shutting the socket's read side ends the body at once. The response is still
/// written (half-closed connections may be answered), then the connection closes.
fn stop_reading(request: &actix_web::HttpRequest) {
    if let Some(socket) = request.conn_data::<PeerSocket>() {
        let _ = socket.0.shutdown(std::net::Shutdown::Read);
    }
}

fn close(head: &mut actix_web::dev::ResponseHead) {
    head.set_connection_type(actix_web::http::ConnectionType::Close);
}

/// Counts open connections per client IP; beyond `max` a new connection is shut at once.
#[derive(Clone)]
pub struct ConnectionCap {
    max: u32,
    open: Arc<Mutex<HashMap<IpAddr, u32>>>,
}

/// Held in the connection's extensions: dropped with the connection, it gives its slot back.
struct Slot {
    ip: IpAddr,
    open: Arc<Mutex<HashMap<IpAddr, u32>>>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

impl ConnectionCap {
    /// `max` = 0: no cap.
    pub fn new(max: u32) -> ConnectionCap {
        ConnectionCap {
            max,
            open: Arc::default(),
        }
    }

    /// For `HttpServer::on_connect`: takes a slot for the peer's IP, or shuts the socket
    /// (the client sees the connection closed before any byte) when the IP has none left.
    /// Also keeps a handle on the socket for the body deadline.
    pub fn on_connect(&self, connection: &dyn std::any::Any, extensions: &mut Extensions) {
        let Some(stream) = connection.downcast_ref::<actix_web::rt::net::TcpStream>() else {
            return;
        };
        match socket2::SockRef::from(stream).try_clone() {
            Ok(socket) => {
                extensions.insert(PeerSocket(socket));
            }
            Err(e) => log::debug!("connection: no handle on its socket ({e})"),
        }
        if self.max == 0 {
            return;
        }
        let Ok(peer) = stream.peer_addr() else {
            return;
        };
        let ip = peer.ip();
        let admitted = {
            let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
            let n = open.entry(ip).or_insert(0);
            if *n < self.max {
                *n += 1;
                true
            } else {
                false
            }
        };
        if admitted {
            extensions.insert(Slot {
                ip,
                open: self.open.clone(),
            });
        } else {
            log::debug!(
                "refused a connection from {ip}: it already holds {} (limits.max_connections_per_ip)",
                self.max
            );
            let _ = socket2::SockRef::from(stream).shutdown(std::net::Shutdown::Both);
        }
    }
}

/// Raises the soft limit on open files to the hard limit, so the connection caps (not the
/// kernel's default of 1024) decide how many clients are served; logs the result.
pub fn raise_open_files_limit() {
    use rlimit::Resource;
    let before = Resource::NOFILE.get().ok();
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(now) => match before {
            Some((soft, _)) if soft < now => {
                log::info!("open files limit raised from {soft} to {now}")
            }
            _ => log::info!("open files limit: {now}"),
        },
        Err(e) => log::warn!("cannot raise the open files limit: {e}"),
    }
}
