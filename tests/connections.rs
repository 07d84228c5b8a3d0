//! What one unauthenticated client can hold: every connection phase is bounded (header read,
//! a total body deadline however the body trickles) and each client IP has a cap on
//! concurrent connections, beyond which connections are closed at once while other clients
//! are still served.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::support::Server;

fn addr(server: &Server) -> SocketAddr {
    server
        .base
        .trim_start_matches("http://")
        .parse()
        .expect("server address")
}

/// A connection from `source` (an address of the loopback network) to the server.
fn connect_from(server: &Server, source: [u8; 4]) -> TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let local = SocketAddr::from((source, 0));
    socket.bind(&local.into()).unwrap();
    socket.connect(&addr(server).into()).unwrap();
    let stream: TcpStream = socket.into();
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    stream
}

/// Writes `pieces` one every `every` until the server closes the connection (or `give_up`
/// passes); returns what the server sent and when it closed.
fn trickle(
    stream: &mut TcpStream,
    pieces: impl Iterator<Item = Vec<u8>>,
    every: Duration,
    give_up: Duration,
) -> (String, Option<Duration>) {
    let started = Instant::now();
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    for piece in pieces {
        if started.elapsed() > give_up {
            break;
        }
        if stream.write_all(&piece).is_err() {
            return (lossy(&received), Some(started.elapsed()));
        }
        let until = Instant::now() + every;
        while Instant::now() < until {
            match stream.read(&mut buf) {
                Ok(0) => return (lossy(&received), Some(started.elapsed())),
                Ok(n) => received.extend_from_slice(&buf[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => return (lossy(&received), Some(started.elapsed())),
            }
        }
    }
    (lossy(&received), None)
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// One chunk of a chunked body, forever.
fn chunks() -> impl Iterator<Item = Vec<u8>> {
    std::iter::repeat_with(|| b"1\r\na\r\n".to_vec())
}

#[test]
fn a_trickling_body_is_cut_off_at_the_deadline() {
    let server = Server::start_with(&[("ANIMAM_LIMITS_BODY_TIMEOUT_SECS", "2")]);
    // A chat whose body trickles in one byte every 200 ms, well inside any idle timeout.
    let mut chat = connect_from(&server, [127, 0, 0, 1]);
    chat.write_all(
        b"POST /chat/acme HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
    )
    .unwrap();
    let (answer, closed) = trickle(
        &mut chat,
        chunks(),
        Duration::from_millis(200),
        Duration::from_secs(10),
    );
    let closed =
        closed.unwrap_or_else(|| panic!("the server must close a trickling body; got {answer:?}"));
    assert!(closed < Duration::from_secs(4), "closed after {closed:?}");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
    assert!(server.log_shows("request body not received within 2 s"));

    // A route that never reads its body answers and closes instead of draining it.
    let mut health = connect_from(&server, [127, 0, 0, 1]);
    health
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        .unwrap();
    let (answer, closed) = trickle(
        &mut health,
        chunks(),
        Duration::from_millis(200),
        Duration::from_secs(10),
    );
    let closed = closed.expect("the server must not drain a body forever");
    assert!(closed < Duration::from_secs(4), "closed after {closed:?}");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[test]
fn slow_headers_are_cut_off() {
    let server = Server::start_with(&[("ANIMAM_LIMITS_HEADER_TIMEOUT_SECS", "1")]);
    let mut slow = connect_from(&server, [127, 0, 0, 1]);
    slow.write_all(b"GET /health HTTP/1.1\r\n").unwrap();
    let header_lines =
        (0..).map(|i: u32| format!("X-Slow-{i}: {}\r\n", "x".repeat(10)).into_bytes());
    let (_, closed) = trickle(
        &mut slow,
        header_lines,
        Duration::from_millis(200),
        Duration::from_secs(10),
    );
    let closed = closed.expect("the server must close a connection whose headers trickle");
    assert!(closed < Duration::from_secs(3), "closed after {closed:?}");
}

#[test]
fn an_idle_keep_alive_connection_is_closed() {
    let server = Server::start_with(&[("ANIMAM_LIMITS_KEEP_ALIVE_SECS", "1")]);
    let mut idle = connect_from(&server, [127, 0, 0, 1]);
    let request = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n".to_vec();
    // One request, then silence: the connection ends about a second later.
    let (answer, closed) = trickle(
        &mut idle,
        std::iter::once(request).chain(std::iter::repeat_with(Vec::new)),
        Duration::from_millis(200),
        Duration::from_secs(10),
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let closed = closed.expect("an idle connection must be closed");
    assert!(closed < Duration::from_secs(3), "closed after {closed:?}");
}

#[test]
fn the_per_ip_cap_refuses_the_next_connection_and_serves_others() {
    let server = Server::start_with(&[("ANIMAM_LIMITS_MAX_CONNECTIONS_PER_IP", "3")]);
    // Sends `GET /health`; returns the answer ("" when the server closed without one).
    let get_health = |stream: &mut TcpStream| -> String {
        let _ = stream.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut received = Vec::new();
        let mut buf = [0u8; 1024];
        while Instant::now() < deadline && !lossy(&received).ends_with('}') {
            match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => received.extend_from_slice(&buf[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => break,
            }
        }
        lossy(&received)
    };
    // Three connections of 127.0.0.1, each served once and kept open.
    let mut held: Vec<TcpStream> = (0..3)
        .map(|_| connect_from(&server, [127, 0, 0, 1]))
        .collect();
    for stream in &mut held {
        assert!(get_health(stream).starts_with("HTTP/1.1 200"));
    }
    // The fourth is closed without an answer, at once.
    let started = Instant::now();
    let mut fourth = connect_from(&server, [127, 0, 0, 1]);
    let answer = get_health(&mut fourth);
    assert_eq!(answer, "", "over the cap: closed without an answer");
    assert!(started.elapsed() < Duration::from_secs(1));
    // Another client is served meanwhile.
    let mut other = connect_from(&server, [127, 0, 0, 2]);
    assert!(get_health(&mut other).starts_with("HTTP/1.1 200"));
    // A held connection going away frees its slot.
    drop(held.pop());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut again = connect_from(&server, [127, 0, 0, 1]);
        if get_health(&mut again).starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(Instant::now() < deadline, "the slot never came back");
    }
    assert!(server.log_shows("open files limit"));
}
