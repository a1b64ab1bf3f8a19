//! raftzk: a ZooKeeper-wire-compatible coordination server replicated through Raft.
//!
//! The server itself arrives with issue 4; today this binary only reports what the codec
//! decodes, so that `scripts/run.sh` says plainly what exists.

use std::process::ExitCode;

fn main() -> ExitCode {
    let opcodes = jute_codec::OpCode::ALL.len();
    let codes = jute_codec::ErrorCode::ALL.len();
    eprintln!(
        "raftzk {}: the wire codec (jute-codec: {opcodes} opcodes, {codes} error codes) is built; \
         the server is not yet (issue 4), so nothing listens on 127.0.0.1:2181.",
        env!("CARGO_PKG_VERSION")
    );
    ExitCode::FAILURE
}
