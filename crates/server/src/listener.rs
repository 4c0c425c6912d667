//! The listener: the accept loop with its connection caps (in total and per source
//! address), the TLS handshake, each connection's HTTP/1.1 service, and the drain at shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;

use crate::conn::{ConnClock, Refused, TimedIo};
use crate::metrics::Rejection;
use crate::server::{handle, maintain, maintenance_pass, summarise, Server, State};
use crate::Error;

impl Server {
    /// Serves until `shutdown` completes; then stops accepting, lets requests in flight finish
    /// (for up to the drain timeout), closes idle connections, and writes the audit log's final
    /// signed digest.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
        // The startup pass (what fell due while the server was down, and a signed digest)
        // runs before the first request is accepted (connections wait in the backlog), so the
        // log always holds it before any request's record; then one pass per interval.
        maintenance_pass(&self.state.kms, &self.state.audit, &self.state.cluster).await;
        let maintenance = tokio::spawn(maintain(
            self.state.kms.clone(),
            self.state.audit.clone(),
            self.state.cluster.clone(),
            self.maintenance_interval,
        ));
        let (stop_summaries, stopped) = tokio::sync::oneshot::channel();
        let summaries = tokio::spawn(summarise(self.state.clone(), stopped));
        let graceful = GracefulShutdown::new();
        tokio::pin!(shutdown);
        loop {
            let (stream, peer) = tokio::select! {
                () = &mut shutdown => break,
                accepted = self.listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors and the like: back off briefly, keep serving.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let ip = peer.ip();
            let slot = match self.limits.admit(ip) {
                Ok(slot) => slot,
                Err(refused) => {
                    self.state.metrics.rejected(match refused {
                        Refused::Total => Rejection::Total,
                        Refused::PerIp => Rejection::PerIp,
                    });
                    drop(stream);
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let clock = ConnClock::new(self.idle_timeout, self.header_timeout);
            // A response the client will not take is given up after the body timeout.
            let io = TimedIo::new(stream, clock.clone(), self.state.body_timeout);
            let state = self.state.clone();
            let watcher = graceful.watcher();
            let tls = self.tls.clone();
            let handshake_timeout = self.header_timeout;
            tokio::spawn(async move {
                let _slot = slot;
                let _open = state.metrics.connection();
                match tls {
                    None => serve_connection(TokioIo::new(io), state, clock, ip, watcher).await,
                    Some(acceptor) => {
                        // The handshake is bounded by the connection clock (its first bytes
                        // start the head deadline) and, for a silent client, by this timeout.
                        let accepted =
                            tokio::time::timeout(handshake_timeout, acceptor.accept(io)).await;
                        if let Ok(Ok(tls)) = accepted {
                            serve_connection(TokioIo::new(tls), state, clock, ip, watcher).await;
                        }
                    }
                }
            });
        }
        drop(self.listener);
        maintenance.abort();
        tracing::info!(
            connections = graceful.count(),
            "shutting down: draining requests in flight"
        );
        if tokio::time::timeout(self.drain_timeout, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!(
                in_flight = self.state.metrics.requests_in_flight(),
                "drain timeout: closing connections with requests still in flight"
            );
        }
        // The refusals of the last, unfinished interval are summarised before the log closes.
        let _ = stop_summaries.send(());
        if let Err(e) = summaries.await {
            tracing::error!(error = %e, "the refusal summary task failed");
        }
        // A final signed digest covers everything recorded (and flushes a buffered log).
        let audit = self.state.audit.clone();
        match tokio::task::spawn_blocking(move || audit.close()).await {
            Ok(Ok(_)) => tracing::info!("audit log closed with a signed digest"),
            Ok(Err(e)) => tracing::error!(error = %e, "closing the audit log failed"),
            Err(e) => tracing::error!(error = %e, "closing the audit log failed"),
        }
        Ok(())
    }
}

/// Serves one connection's requests until it closes, times out or is shut down.
async fn serve_connection<I>(
    io: TokioIo<I>,
    state: Arc<State>,
    clock: Arc<ConnClock>,
    ip: IpAddr,
    watcher: hyper_util::server::graceful::Watcher,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req| {
        let state = state.clone();
        let clock = clock.clone();
        async move {
            clock.busy();
            let response = handle(&state, ip, req).await;
            clock.idle();
            Ok::<_, Infallible>(response)
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.max_buf_size(64 * 1024);
    let conn = builder.serve_connection(io, service);
    if let Err(e) = watcher.watch(conn).await {
        tracing::debug!(%ip, error = %e, "connection closed with an error");
    }
}
