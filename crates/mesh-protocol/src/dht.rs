//! How assets are named in the DHT.

use cid::Cid;
use libp2p::kad::RecordKey;

/// The provider-record key of `cid`: its multihash bytes, as IPFS does, so the key does not
/// depend on the CID version or codec of whoever asks.
pub fn provider_key(cid: &Cid) -> RecordKey {
    RecordKey::new(&cid.hash().to_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesh_core::block::{DAG_PB_CODEC, RAW_CODEC, cid_for};

    #[test]
    fn key_is_the_multihash() {
        let raw = cid_for(RAW_CODEC, b"x");
        assert_eq!(provider_key(&raw).to_vec(), raw.hash().to_bytes());
        assert_ne!(
            provider_key(&raw),
            provider_key(&cid_for(DAG_PB_CODEC, b"y"))
        );
    }
}
