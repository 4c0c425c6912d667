//! Connection limits and deadlines: a cap on connections in total and per source address, and
//! an I/O wrapper that closes a connection idle too long between requests, too slow to send a
//! request's head (slowloris), or too slow to take a response (a client that stops reading).
//! The body has its own deadline, enforced where it is read.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Counts open connections, in total and per source address.
#[derive(Debug)]
pub(crate) struct ConnLimits {
    max_total: usize,
    max_per_ip: usize,
    open: Mutex<(usize, HashMap<IpAddr, usize>)>,
}

/// Why a connection was not admitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    Total,
    PerIp,
}

impl ConnLimits {
    pub(crate) fn new(max_total: usize, max_per_ip: usize) -> Arc<Self> {
        Arc::new(Self {
            max_total,
            max_per_ip,
            open: Mutex::new((0, HashMap::new())),
        })
    }

    /// Admits a connection from `ip`, or says which cap it hit. The slot is released when the
    /// returned guard drops.
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Slot, Refused> {
        let mut open = self.open.lock();
        if open.0 >= self.max_total {
            return Err(Refused::Total);
        }
        let n = open.1.entry(ip).or_insert(0);
        if *n >= self.max_per_ip {
            return Err(Refused::PerIp);
        }
        *n += 1;
        open.0 += 1;
        Ok(Slot {
            limits: self.clone(),
            ip,
        })
    }
}

/// One admitted connection.
#[derive(Debug)]
pub(crate) struct Slot {
    limits: Arc<ConnLimits>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.limits.open.lock();
        open.0 = open.0.saturating_sub(1);
        if let Some(n) = open.1.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.1.remove(&self.ip);
            }
        }
    }
}

/// Where a connection is between requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Waiting for the first byte of a request (new, or kept alive after a response).
    Idle,
    /// A request's head has begun to arrive.
    Head,
    /// A request is being served (its body has its own deadline).
    Busy,
}

/// The deadlines of one connection, shared by its I/O wrapper and its request handler.
#[derive(Debug)]
pub(crate) struct ConnClock {
    idle: Duration,
    head: Duration,
    state: Mutex<(Phase, Instant)>,
}

impl ConnClock {
    pub(crate) fn new(idle: Duration, head: Duration) -> Arc<Self> {
        Arc::new(Self {
            idle,
            head,
            state: Mutex::new((Phase::Idle, Instant::now() + idle)),
        })
    }

    /// A request's head is in: no read deadline while it is served.
    pub(crate) fn busy(&self) {
        *self.state.lock() = (Phase::Busy, Instant::now());
    }

    /// The response is done: the connection may idle for the idle timeout.
    pub(crate) fn idle(&self) {
        *self.state.lock() = (Phase::Idle, Instant::now() + self.idle);
    }

    /// Bytes arrived: an idle connection starts its head deadline.
    fn bytes_arrived(&self) {
        let mut st = self.state.lock();
        if st.0 == Phase::Idle {
            *st = (Phase::Head, Instant::now() + self.head);
        }
    }

    /// The deadline now in force, if any.
    fn deadline(&self) -> Option<Instant> {
        let st = self.state.lock();
        (st.0 != Phase::Busy).then_some(st.1)
    }
}

/// An I/O stream whose reads fail with `TimedOut` once its [`ConnClock`]'s deadline passes,
/// which makes hyper close the connection.
pub(crate) struct TimedIo<T> {
    inner: T,
    clock: Arc<ConnClock>,
    sleep: Pin<Box<Sleep>>,
    /// How long one write may wait for the client to make room.
    write_timeout: Duration,
    /// Set while a write waits for the client: fires `write_timeout` after it began waiting.
    write_sleep: Option<Pin<Box<Sleep>>>,
}

impl<T> TimedIo<T> {
    pub(crate) fn new(inner: T, clock: Arc<ConnClock>, write_timeout: Duration) -> Self {
        let at = clock.deadline().unwrap_or_else(Instant::now);
        Self {
            inner,
            clock,
            sleep: Box::pin(tokio::time::sleep_until(at)),
            write_timeout,
            write_sleep: None,
        }
    }

    /// After a write returned `Pending`: `Ready(Err)` once the client has kept it waiting for
    /// the write timeout.
    fn write_stalled(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        let timeout = self.write_timeout;
        let sleep = self
            .write_sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client does not take the response",
            )),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for TimedIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.clock.bytes_arrived();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                let Some(deadline) = this.clock.deadline() else {
                    return Poll::Pending;
                };
                if this.sleep.deadline() != deadline {
                    this.sleep.as_mut().reset(deadline);
                }
                match this.sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "connection idle or request head too slow",
                    ))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for TimedIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_write(cx, buf) {
            Poll::Pending => this.write_stalled(cx).map(Err),
            done => {
                this.write_sleep = None;
                done
            }
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_write_vectored(cx, bufs) {
            Poll::Pending => this.write_stalled(cx).map(Err),
            done => {
                this.write_sleep = None;
                done
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn caps_in_total_and_per_address() {
        let limits = ConnLimits::new(3, 2);
        let a: IpAddr = [127, 0, 0, 1].into();
        let b: IpAddr = [127, 0, 0, 2].into();
        let a1 = limits.admit(a).unwrap();
        let _a2 = limits.admit(a).unwrap();
        assert_eq!(limits.admit(a).unwrap_err(), Refused::PerIp);
        let _b1 = limits.admit(b).unwrap();
        assert_eq!(limits.admit(b).unwrap_err(), Refused::Total);
        drop(a1);
        let _a3 = limits.admit(a).unwrap();
        assert_eq!(limits.open.lock().0, 3);
    }

    #[tokio::test(start_paused = true)]
    async fn idle_and_slow_heads_time_out_but_busy_connections_do_not() {
        // Paused time: the runtime advances the clock only when every task waits, so the
        // deadlines fire in order without real waiting.
        let (client, server) = tokio::io::duplex(64);
        let clock = ConnClock::new(Duration::from_secs(60), Duration::from_secs(5));
        let mut io = TimedIo::new(server, clock.clone(), Duration::from_secs(10));
        let mut client = client;
        let mut buf = [0u8; 8];

        // Bytes within the idle window start the (shorter) head deadline.
        client.write_all(b"GE").await.unwrap();
        assert_eq!(io.read(&mut buf).await.unwrap(), 2);
        let started = Instant::now();
        let err = io.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(Instant::now() - started, Duration::from_secs(5));

        // A busy connection has no read deadline; back to idle, the idle timeout applies.
        clock.busy();
        let mut read = Box::pin(io.read(&mut buf));
        tokio::time::advance(Duration::from_secs(3600)).await;
        assert!(futures_poll_once(read.as_mut()).await.is_none());
        drop(read);
        clock.idle();
        let started = Instant::now();
        let err = io.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(Instant::now() - started, Duration::from_secs(60));
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_stops_reading_fails_the_write_after_the_timeout() {
        let (client, server) = tokio::io::duplex(16);
        let clock = ConnClock::new(Duration::from_secs(60), Duration::from_secs(5));
        let mut io = TimedIo::new(server, clock, Duration::from_secs(10));
        // Room for 16 bytes; a slow reader that takes some keeps the write going.
        io.write_all(&[1u8; 16]).await.unwrap();
        let mut client = client;
        let mut buf = [0u8; 8];
        client.read_exact(&mut buf).await.unwrap();
        io.write_all(&[2u8; 8]).await.unwrap();
        // Now the client reads nothing more: the next write waits 10 s, then fails.
        let started = Instant::now();
        let err = io.write_all(&[3u8; 64]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(Instant::now() - started, Duration::from_secs(10));
        drop(client);
    }

    /// Polls a future once: `Some(output)` if it was ready.
    async fn futures_poll_once<F: Future + Unpin>(mut f: F) -> Option<F::Output> {
        std::future::poll_fn(|cx| {
            Poll::Ready(match Pin::new(&mut f).poll(cx) {
                Poll::Ready(v) => Some(v),
                Poll::Pending => None,
            })
        })
        .await
    }
}
