//! hyper answers some malformed requests itself, before any layer of ours sees them, and
//! with an empty body: 400 (a request line or header hyper cannot parse: CR, LF or NUL
//! inside a header value, a raw byte above 0x7F in the path, a malformed `Content-Length`),
//! 414 (a URI of 64 KiB or more) and 431 (a header section larger than hyper's read buffer,
//! about 400 KiB, or more than 100 headers). hyper has no hook for these answers, so every
//! accepted connection is wrapped: when hyper writes one of them (recognised by its exact
//! shape: that status, `content-length: 0`, no `content-type`; every answer of ours to an
//! error has a JSON body), the answer goes out with the `{"errors": [...]}` body every other
//! error has, and a request id. Everything else passes through untouched.

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use confmgr_api::ErrorBody;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A listener whose connections answer hyper's own errors in JSON (plain HTTP).
pub struct JsonErrorsListener<L>(pub L);

impl<L: Listener> Listener for JsonErrorsListener<L> {
    type Io = JsonErrorsIo<L::Io>;
    type Addr = L::Addr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (io, addr) = self.0.accept().await;
        (JsonErrorsIo::new(io), addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

/// The peer of a connection accepted by `JsonErrorsListener` (axum names the peers of its
/// own listeners only); `super::middleware::peer_address` turns it into the
/// `ConnectInfo<SocketAddr>` that handlers and the audit read.
#[derive(Clone, Copy, Debug)]
pub struct PeerAddr(pub SocketAddr);

impl Connected<IncomingStream<'_, JsonErrorsListener<tokio::net::TcpListener>>> for PeerAddr {
    fn connect_info(
        stream: IncomingStream<'_, JsonErrorsListener<tokio::net::TcpListener>>,
    ) -> Self {
        Self(*stream.remote_addr())
    }
}

/// The same for `axum_server` (HTTPS): wraps the stream its inner acceptor makes, so the
/// rewrite happens inside TLS.
#[derive(Clone)]
pub struct JsonErrorsAcceptor<A>(pub A);

impl<A, I, S> axum_server::accept::Accept<I, S> for JsonErrorsAcceptor<A>
where
    A: axum_server::accept::Accept<I, S>,
    A::Future: Send + 'static,
{
    type Stream = JsonErrorsIo<A::Stream>;
    type Service = A::Service;
    type Future = Pin<Box<dyn Future<Output = io::Result<(Self::Stream, Self::Service)>> + Send>>;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        let accepted = self.0.accept(stream, service);
        Box::pin(async move {
            let (stream, service) = accepted.await?;
            Ok((JsonErrorsIo::new(stream), service))
        })
    }
}

/// A connection's byte stream, with hyper's empty error answers given a JSON body.
pub struct JsonErrorsIo<T> {
    inner: T,
    /// A rewritten answer not yet fully written (hyper was told its bytes were).
    pending: Vec<u8>,
    sent: usize,
}

impl<T> JsonErrorsIo<T> {
    fn new(inner: T) -> Self {
        Self {
            inner,
            pending: Vec::new(),
            sent: 0,
        }
    }
}

impl<T: AsyncWrite + Unpin> JsonErrorsIo<T> {
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.pending.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.pending[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        self.pending.clear();
        self.sent = 0;
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for JsonErrorsIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for JsonErrorsIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        match with_json_body(buf) {
            Some(rewritten) => this.start_rewritten(cx, rewritten, buf.len()),
            None => Pin::new(&mut this.inner).poll_write(cx, buf),
        }
    }

    /// hyper writes an answer's head and its body as separate slices; an answer of its own
    /// has no body, so it comes as one slice holding the whole head.
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        let mut slices = bufs.iter().filter(|b| !b.is_empty());
        if let (Some(only), None) = (slices.next(), slices.next()) {
            if let Some(rewritten) = with_json_body(only) {
                return this.start_rewritten(cx, rewritten, only.len());
            }
        }
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

impl<T: AsyncWrite + Unpin> JsonErrorsIo<T> {
    /// Takes `rewritten` in place of the `replaced` bytes hyper asked to write, and reports
    /// those as written: what the socket does not take now goes out on the next write,
    /// flush or shutdown.
    fn start_rewritten(
        &mut self,
        cx: &mut Context<'_>,
        rewritten: Vec<u8>,
        replaced: usize,
    ) -> Poll<io::Result<usize>> {
        self.pending = rewritten;
        self.sent = 0;
        if let Poll::Ready(Err(error)) = self.poll_pending(cx) {
            return Poll::Ready(Err(error));
        }
        Poll::Ready(Ok(replaced))
    }
}

/// The longest head hyper writes for its own answers (status line, `connection`,
/// `content-length` and `date`), with room to spare.
const MAX_HYPER_HEAD: usize = 512;

/// hyper's own answer to a request it could not parse, with a JSON body; `None` for
/// anything else.
fn with_json_body(buf: &[u8]) -> Option<Vec<u8>> {
    // hyper's heads for these are about 100 bytes: anything longer (every body) is not
    // looked at, so ordinary traffic pays one comparison.
    if buf.len() > MAX_HYPER_HEAD || !buf.starts_with(b"HTTP/1.") {
        return None;
    }
    let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    if head_end + 4 != buf.len() {
        return None;
    }
    let head = std::str::from_utf8(&buf[..head_end]).ok()?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let status = status_line
        .strip_prefix("HTTP/1.1 ")
        .or_else(|| status_line.strip_prefix("HTTP/1.0 "))?;
    let message = match status.get(..3)? {
        "400" => "malformed request: the request line or a header could not be parsed",
        "414" => "request URI too long",
        "431" => "request header fields too large",
        _ => return None,
    };
    let headers: Vec<&str> = lines.collect();
    let named = |name: &str| {
        headers.iter().any(|line| {
            line.split_once(':')
                .is_some_and(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        })
    };
    let empty = headers.iter().any(|line| {
        line.split_once(':').is_some_and(|(n, v)| {
            n.trim().eq_ignore_ascii_case("content-length") && v.trim() == "0"
        })
    });
    if !empty || named("content-type") {
        return None;
    }
    let body = serde_json::to_vec(&ErrorBody {
        errors: vec![message.to_owned()],
    })
    .ok()?;
    let mut out = Vec::with_capacity(buf.len() + body.len() + 64);
    out.extend_from_slice(status_line.as_bytes());
    out.extend_from_slice(b"\r\n");
    for line in headers.iter().filter(|line| {
        !line
            .split_once(':')
            .is_some_and(|(n, _)| n.trim().eq_ignore_ascii_case("content-length"))
    }) {
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    // Like every other answer, it carries a request id (a new one: hyper read no header).
    out.extend_from_slice(format!("x-request-id: {}\r\n", uuid::Uuid::new_v4()).as_bytes());
    out.extend_from_slice(b"content-type: application/json\r\n");
    out.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(&body);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hyper_error_answers_are_rewritten() {
        let hyper = b"HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\ndate: Mon, 07 Dec 2026 19:12:03 GMT\r\n\r\n";
        let out = String::from_utf8(with_json_body(hyper).unwrap()).unwrap();
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 431 "), "{head}");
        assert!(head.contains("content-type: application/json"), "{head}");
        assert!(
            head.contains(&format!("content-length: {}", body.len())),
            "{head}"
        );
        assert!(head.contains("connection: close"), "{head}");
        assert!(head.contains("x-request-id: "), "{head}");
        assert_eq!(body, r#"{"errors":["request header fields too large"]}"#);
        for untouched in [
            &b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"[..],
            b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\n\r\n{}",
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n",
            b"{\"data\":\"HTTP/1.1 400 \"}",
        ] {
            assert_eq!(with_json_body(untouched), None);
        }
    }
}
