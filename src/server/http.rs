//! A small HTTP/1.1 server for the two read-only endpoints an operator scrapes: Prometheus'
//! `/metrics` and the AdminServer's `/commands`. GET (and HEAD) only, bounded headers, no
//! request bodies, keep-alive as Prometheus uses it. Enough for scrapers, curl and browsers;
//! not a general web server.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Largest request head accepted (request line and headers).
const MAX_HEAD: usize = 16 * 1024;
/// A connection idle this long is closed.
const IDLE: Duration = Duration::from_secs(30);
/// Requests served on one connection before it is closed.
const MAX_REQUESTS: usize = 10_000;

/// One answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Content-Type.
    pub content_type: &'static str,
    /// Body.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// 200 with a body.
    pub fn ok(content_type: &'static str, body: impl Into<Vec<u8>>) -> HttpResponse {
        HttpResponse {
            status: 200,
            content_type,
            body: body.into(),
        }
    }

    /// An error status with a one-line text body.
    pub fn error(status: u16, text: &str) -> HttpResponse {
        HttpResponse {
            status,
            content_type: "text/plain; charset=utf-8",
            body: format!("{text}\n").into_bytes(),
        }
    }
}

/// What an endpoint serves.
pub trait Routes: Send + Sync + 'static {
    /// The answer to `GET path?query`.
    fn get(&self, path: &str, query: &str) -> HttpResponse;
}

/// Serves `routes` on `listener` until the task is aborted.
pub async fn serve(listener: TcpListener, routes: Arc<dyn Routes>, what: &'static str) {
    // Every connection's task belongs to this one: when it stops, they stop.
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        match accepted {
            Ok((stream, peer)) => {
                let routes = routes.clone();
                connections.spawn(async move {
                    if let Err(e) = connection(stream, peer, &*routes).await {
                        tracing::debug!(%peer, endpoint = what, error = %e, "http connection ended");
                    }
                });
            }
            Err(e) => {
                tracing::warn!(endpoint = what, error = %e, "http accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Why a connection ended early.
#[derive(Debug, thiserror::Error)]
enum HttpError {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("idle")]
    Idle,
    #[error("request head over {MAX_HEAD} bytes")]
    TooLarge,
}

async fn connection(
    mut stream: TcpStream,
    _peer: SocketAddr,
    routes: &dyn Routes,
) -> Result<(), HttpError> {
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    for _ in 0..MAX_REQUESTS {
        let head_end = loop {
            if let Some(end) = find_head_end(&buf) {
                break end;
            }
            if buf.len() > MAX_HEAD {
                let answer = HttpResponse::error(431, "request head too large");
                write_response(&mut stream, &answer, false, true).await?;
                return Err(HttpError::TooLarge);
            }
            let mut chunk = [0u8; 4096];
            let n = tokio::time::timeout(IDLE, stream.read(&mut chunk))
                .await
                .map_err(|_| HttpError::Idle)??;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        };
        let head = String::from_utf8_lossy(buf.get(..head_end).unwrap_or_default()).into_owned();
        buf.drain(..head_end + 4);
        let request = parse_head(&head);
        let (answer, keep_alive, head_only) = match &request {
            Some(r) if r.has_body => (
                HttpResponse::error(400, "request bodies are not accepted"),
                false,
                false,
            ),
            Some(r) if r.method == "GET" || r.method == "HEAD" => {
                let (path, query) = r.target.split_once('?').unwrap_or((&r.target, ""));
                (routes.get(path, query), r.keep_alive, r.method == "HEAD")
            }
            Some(_) => (HttpResponse::error(405, "only GET is served"), false, false),
            None => (HttpResponse::error(400, "malformed request"), false, false),
        };
        write_response(&mut stream, &answer, keep_alive, head_only).await?;
        if !keep_alive {
            return Ok(());
        }
    }
    Ok(())
}

fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n")
}

/// The parts of a request head this server uses.
#[derive(Debug, PartialEq, Eq)]
struct RequestHead {
    method: String,
    target: String,
    keep_alive: bool,
    has_body: bool,
}

fn parse_head(head: &str) -> Option<RequestHead> {
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_string();
    let target = first.next()?.to_string();
    let version = first.next()?;
    if !version.starts_with("HTTP/1.") || !target.starts_with('/') {
        return None;
    }
    let mut keep_alive = version == "HTTP/1.1";
    let mut has_body = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim().to_ascii_lowercase();
        match name.trim().to_ascii_lowercase().as_str() {
            "connection" if value == "close" => keep_alive = false,
            "connection" if value == "keep-alive" => keep_alive = true,
            "content-length" => has_body = value != "0",
            "transfer-encoding" => has_body = true,
            _ => {}
        }
    }
    Some(RequestHead {
        method,
        target,
        keep_alive,
        has_body,
    })
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

async fn write_response(
    stream: &mut TcpStream,
    answer: &HttpResponse,
    keep_alive: bool,
    head_only: bool,
) -> Result<(), HttpError> {
    let head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: {}\r\n\r\n",
        answer.status,
        reason(answer.status),
        answer.content_type,
        answer.body.len(),
        if keep_alive { "keep-alive" } else { "close" }
    );
    stream.write_all(head.as_bytes()).await?;
    if !head_only {
        stream.write_all(&answer.body).await?;
    }
    if !keep_alive {
        let _ = stream.shutdown().await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_request_heads() {
        let h = parse_head("GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*").unwrap();
        assert_eq!(
            (
                h.method.as_str(),
                h.target.as_str(),
                h.keep_alive,
                h.has_body
            ),
            ("GET", "/metrics", true, false)
        );
        let h = parse_head("GET /a?b=1 HTTP/1.0").unwrap();
        assert!(!h.keep_alive);
        let h = parse_head("GET / HTTP/1.1\r\nConnection: close").unwrap();
        assert!(!h.keep_alive);
        let h = parse_head("POST / HTTP/1.1\r\nContent-Length: 5").unwrap();
        assert!(h.has_body);
        assert!(parse_head("garbage").is_none());
        assert!(parse_head("GET metrics HTTP/1.1").is_none());
        assert!(parse_head("GET / SPDY/3").is_none());
    }

    struct Echo;
    impl Routes for Echo {
        fn get(&self, path: &str, query: &str) -> HttpResponse {
            HttpResponse::ok("text/plain", format!("{path}|{query}"))
        }
    }

    #[tokio::test]
    async fn serves_keep_alive_requests_and_refuses_bad_ones() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(serve(listener, Arc::new(Echo), "test"));
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /a?x=1 HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).await.unwrap();
        assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 2, "{text}");
        assert!(text.contains("/a|x=1") && text.contains("/b|"), "{text}");
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"DELETE /a HTTP/1.1\r\n\r\n").await.unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).await.unwrap();
        assert!(text.starts_with("HTTP/1.1 405"), "{text}");
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(&vec![b'a'; MAX_HEAD + 10]).await.unwrap();
        let mut text = String::new();
        let _ = s.read_to_string(&mut text).await;
        assert!(text.starts_with("HTTP/1.1 431"), "{text}");
        server.abort();
    }
}
