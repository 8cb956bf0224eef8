//! How assets are named in provider routing.

use cid::Cid;

/// The provider key of `cid`: its multihash bytes, as IPFS does, so the key does not depend
/// on the CID version or codec of whoever asks.
pub fn provider_key_bytes(cid: &Cid) -> Vec<u8> {
    cid.hash().to_bytes()
}

/// The same key as Kademlia's record key.
#[cfg(feature = "kad")]
pub fn provider_key(cid: &Cid) -> libp2p::kad::RecordKey {
    libp2p::kad::RecordKey::new(&provider_key_bytes(cid))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesh_core::block::{DAG_PB_CODEC, RAW_CODEC, cid_for};

    #[test]
    fn key_is_the_multihash() {
        let raw = cid_for(RAW_CODEC, b"x");
        assert_eq!(provider_key_bytes(&raw), raw.hash().to_bytes());
        assert_ne!(
            provider_key_bytes(&raw),
            provider_key_bytes(&cid_for(DAG_PB_CODEC, b"y"))
        );
        #[cfg(feature = "kad")]
        assert_eq!(provider_key(&raw).to_vec(), provider_key_bytes(&raw));
    }
}
