//! The client listeners: each accepts connections and gives each its own task, in the
//! listener's transport [`Mode`] (plaintext, TLS, or both on one port).

use std::sync::Arc;

use tokio::net::TcpListener;

use super::transport::Mode;
use super::{connection, Server};

/// Accepts clients on `listener` until the task is dropped.
pub async fn run(server: Arc<Server>, listener: TcpListener, mode: Mode) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                tokio::spawn(connection::serve(
                    server.clone(),
                    stream,
                    peer,
                    mode.clone(),
                ));
            }
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}
