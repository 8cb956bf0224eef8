//! The mesh-protocol block-exchange codec (`BlockCodec`) reading a request
//! or a response from an arbitrary stream, driven by futures' executor over an in-memory
//! cursor.
//!
//! Properties: never a panic; only `InvalidData` (counted as a rejected request on the
//! request side) or `UnexpectedEof`; never reads past one frame of the side's size cap;
//! whatever is accepted (questions and notices: have-summaries, withdrawals, cancels) respects
//! the protocol's CID counts and block cap, and round-trips through the writer.

#![no_main]

use futures::executor::block_on;
use futures::io::Cursor;
use libfuzzer_sys::fuzz_target;
use mesh_core::block::MAX_BLOCK_SIZE;
use mesh_core::wire::{MAX_LENGTH_PREFIX_LEN, MAX_MESSAGE_SIZE};
use mesh_protocol::blocks::{
    BlockCodec, BlockRequest, BlockResponse, MAX_NOTICE_CIDS, MAX_REQUEST_SIZE, MAX_WANT_HAVE_CIDS,
};
use std::io;

fuzz_target!(|data: &[u8]| {
    let Some((&side, stream)) = data.split_first() else {
        return;
    };
    if side & 1 == 0 {
        read_request(stream);
    } else {
        read_response(stream);
    }
});

fn read_request(stream: &[u8]) {
    let codec = BlockCodec::new();
    let mut io = Cursor::new(stream);
    let result = block_on(codec.read_request(&mut io));
    assert!(io.position() as usize <= MAX_LENGTH_PREFIX_LEN + MAX_REQUEST_SIZE);
    let request = match result {
        Ok(request) => request,
        Err(e) => {
            let invalid = check_error(&e);
            assert_eq!(codec.rejected_requests(), u64::from(invalid));
            return;
        }
    };
    assert_eq!(codec.rejected_requests(), 0);
    match &request {
        BlockRequest::WantHave { cids, .. } => {
            assert!((1..=MAX_WANT_HAVE_CIDS).contains(&cids.len()));
        }
        BlockRequest::Announce { .. }
        | BlockRequest::Withdraw { .. }
        | BlockRequest::Cancel { .. } => {
            assert!((1..=MAX_NOTICE_CIDS).contains(&request.cids().len()));
        }
        BlockRequest::WantBlock { .. } => {}
    }
    let mut wire = Vec::new();
    block_on(codec.write_request(&mut wire, &request))
        .expect("an accepted request can be written");
    let again = block_on(codec.read_request(&mut Cursor::new(wire)));
    assert_eq!(again.expect("re-read"), request);
}

fn read_response(stream: &[u8]) {
    let codec = BlockCodec::new();
    let mut io = Cursor::new(stream);
    let result = block_on(codec.read_response(&mut io));
    assert!(io.position() as usize <= MAX_LENGTH_PREFIX_LEN + MAX_MESSAGE_SIZE);
    let response = match result {
        Ok(response) => response,
        Err(e) => {
            check_error(&e);
            return;
        }
    };
    if let BlockResponse::Block { data, .. } = &response {
        assert!(data.len() <= MAX_BLOCK_SIZE);
    }
    let mut wire = Vec::new();
    block_on(codec.write_response(&mut wire, &response))
        .expect("an accepted response can be written");
    let again = block_on(codec.read_response(&mut Cursor::new(wire)));
    assert_eq!(again.expect("re-read"), response);
}

/// Whether `e` is `InvalidData` (otherwise it must be `UnexpectedEof`).
fn check_error(e: &io::Error) -> bool {
    match e.kind() {
        io::ErrorKind::InvalidData => true,
        io::ErrorKind::UnexpectedEof => false,
        other => panic!("unexpected error kind {other:?}: {e}"),
    }
}
