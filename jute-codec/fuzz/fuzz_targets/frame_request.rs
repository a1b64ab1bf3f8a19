//! Arbitrary bytes as a client's byte stream: frame it with the default maximum, decode each
//! frame as the handshake and as a request, and re-encode whatever decodes. Decoding must never
//! panic, and a re-encoded request must decode to the same value.
#![no_main]

use bytes::BytesMut;
use jute_codec::{
    decode_reply, decode_request, encode_frame, sniff, ClientRequest, ConnectRequest,
    FrameCodec, Jute, OpCode,
};
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::Decoder;

fuzz_target!(|data: &[u8]| {
    let _ = sniff(data);
    let mut codec = FrameCodec::default();
    let mut stream = BytesMut::from(data);
    let mut first = true;
    while let Ok(Some(frame)) = codec.decode(&mut stream) {
        if first {
            let _ = ConnectRequest::from_bytes(&frame);
            first = false;
        }
        if let Ok((header, request)) = decode_request(&frame) {
            let original = ClientRequest { header, request };
            let mut out = BytesMut::new();
            if encode_frame(&original, &mut out, usize::MAX).is_ok() {
                let body = &out[4..];
                let (h, r) = decode_request(body).expect("re-encoded request decodes");
                assert_eq!(h, original.header);
                assert_eq!(r, original.request);
            }
        }
        for op in [OpCode::GetData, OpCode::Multi, OpCode::GetChildren2, OpCode::WhoAmI] {
            let _ = decode_reply(&frame, |_| op);
        }
    }
});
