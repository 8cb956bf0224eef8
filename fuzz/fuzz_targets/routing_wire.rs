//! Delegated routing's messages (`mesh_protocol::routing::wire`): any bytes decoded as a
//! request and as a response, and read through the request-response codec from an in-memory
//! cursor.
//!
//! Properties: never a panic; only typed errors; whatever decodes respects every cap (key,
//! addresses, providers, refusal reason) and encodes back to a message that decodes to itself;
//! the codec never reads more than one message's cap (plus the byte that shows it is over) and
//! refuses what is over it.

#![no_main]

use futures::executor::block_on;
use futures::io::Cursor;
use libfuzzer_sys::fuzz_target;
use libp2p::StreamProtocol;
use libp2p::request_response::Codec;
use mesh_protocol::routing::wire::{
    MAX_ADDR_LEN, MAX_ADDRS, MAX_KEY_LEN, MAX_PROVIDERS, MAX_REASON_LEN, MAX_REQUEST_SIZE,
    MAX_RESPONSE_SIZE, Request, Response, RoutingCodec,
};

const PROTOCOL: StreamProtocol = StreamProtocol::new("/mesh/fuzz/routing/1.0.0");

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = Request::decode(data) {
        check_request(&request);
        assert_eq!(Request::decode(&request.encode()).as_ref(), Ok(&request));
    }
    if let Ok(response) = Response::decode(data) {
        check_response(&response);
        assert_eq!(Response::decode(&response.encode()).as_ref(), Ok(&response));
    }

    let mut io = Cursor::new(data);
    let read = block_on(RoutingCodec.read_request(&PROTOCOL, &mut io));
    assert!(io.position() as usize <= MAX_REQUEST_SIZE + 1);
    match read {
        Ok(request) => assert_eq!(Request::decode(data).as_ref(), Ok(&request)),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::InvalidData),
    }
    let mut io = Cursor::new(data);
    let read = block_on(RoutingCodec.read_response(&PROTOCOL, &mut io));
    assert!(io.position() as usize <= MAX_RESPONSE_SIZE + 1);
    match read {
        Ok(response) => assert_eq!(Response::decode(data).as_ref(), Ok(&response)),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::InvalidData),
    }
});

fn check_addrs(addrs: &[libp2p::Multiaddr]) {
    assert!(addrs.len() <= MAX_ADDRS);
    assert!(addrs.iter().all(|a| a.len() <= MAX_ADDR_LEN));
}

fn check_request(request: &Request) {
    match request {
        Request::FindProviders { key }
        | Request::FindHeldProviders { key }
        | Request::Withdraw { key } => assert!(key.len() <= MAX_KEY_LEN),
        Request::Provide { key, addrs } => {
            assert!(key.len() <= MAX_KEY_LEN);
            check_addrs(addrs);
        }
    }
}

fn check_response(response: &Response) {
    match response {
        Response::Providers(providers) => {
            assert!(providers.len() <= MAX_PROVIDERS);
            for p in providers {
                check_addrs(&p.addrs);
            }
        }
        Response::Refused(reason) => assert!(reason.len() <= MAX_REASON_LEN),
        Response::Provided | Response::Withdrawn => {}
    }
}
