//! `Content-Encoding` for whole responses of compressible files, as a CDN edge does.
//!
//! Without it every tab downloads the loader's wasm at full size (about 2 MiB instead of about
//! 0.6), and the demo's net offload charges the mesh for bytes no real origin would send.
//! Files are immutable per version here (the ETag is the CID), so each version is encoded once,
//! on first request, and kept in a bounded memory cache. Ranges and incompressible types go
//! out as stored: a byte range of an encoded representation is not what a client asking for
//! bytes of the file means.

use std::collections::{HashMap, VecDeque};
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use hyper::header::{self, HeaderMap};
use tokio::sync::OnceCell;

/// Largest file encoded: bigger ones stream as stored rather than sit in memory whole.
pub(crate) const MAX_ENCODED_FILE: u64 = 16 * 1024 * 1024;
/// Encoded bytes kept across requests.
pub(crate) const CACHE_BYTES: usize = 64 * 1024 * 1024;
/// Brotli quality: 5 encodes several MB/s a core and gets within a few percent of 11 on wasm
/// and scripts, so the first request of a file is not held up for seconds.
const BROTLI_QUALITY: u32 = 5;
/// Brotli window (log2 bytes), the encoder's default.
const BROTLI_WINDOW: u32 = 22;
/// Gzip level: the zlib default, the usual CDN setting.
const GZIP_LEVEL: u32 = 6;

/// A content coding this origin can apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Encoding {
    /// `br` (RFC 7932).
    Brotli,
    /// `gzip` (RFC 1952).
    Gzip,
}

impl Encoding {
    /// The token in `Accept-Encoding` and `Content-Encoding`.
    pub(crate) fn token(self) -> &'static str {
        match self {
            Self::Brotli => "br",
            Self::Gzip => "gzip",
        }
    }

    /// The ETag of the encoded representation: a strong validator may name only one
    /// representation (RFC 9110 §8.8.1), so the coding is part of it.
    pub(crate) fn etag(self, cid_etag: &str) -> String {
        let bare = cid_etag.trim_matches('"');
        format!("\"{bare}.{}\"", self.token())
    }

    fn encode(self, data: &[u8]) -> io::Result<Vec<u8>> {
        match self {
            Self::Brotli => {
                let mut out = Vec::with_capacity(data.len() / 3);
                {
                    let mut writer = brotli::CompressorWriter::new(
                        &mut out,
                        64 * 1024,
                        BROTLI_QUALITY,
                        BROTLI_WINDOW,
                    );
                    writer.write_all(data)?;
                }
                Ok(out)
            }
            Self::Gzip => {
                let mut encoder = flate2::write::GzEncoder::new(
                    Vec::with_capacity(data.len() / 3),
                    flate2::Compression::new(GZIP_LEVEL),
                );
                encoder.write_all(data)?;
                encoder.finish()
            }
        }
    }
}

/// The coding to use for a client sending `request`'s `Accept-Encoding`: `br` when accepted,
/// else `gzip`, else none. A coding listed with `q=0` is refused, and `*` stands for any
/// coding not listed (RFC 9110 §12.5.3).
pub(crate) fn negotiate(request: &HeaderMap) -> Option<Encoding> {
    let mut br = None;
    let mut gzip = None;
    let mut any = None;
    for item in request
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
    {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let accepted = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .all(|q| q.trim().parse::<f32>().is_ok_and(|q| q > 0.0));
        match coding.as_str() {
            "br" => br = Some(accepted),
            "gzip" | "x-gzip" => gzip = Some(accepted),
            "*" => any = Some(accepted),
            _ => {}
        }
    }
    if br.or(any) == Some(true) {
        Some(Encoding::Brotli)
    } else if gzip.or(any) == Some(true) {
        Some(Encoding::Gzip)
    } else {
        None
    }
}

/// Whether a file of `content_type` gains from encoding: text, scripts, JSON, XML, SVG and
/// wasm do; images, audio, video and archives are compressed already.
pub(crate) fn compressible(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence.starts_with("text/")
        || essence.ends_with("+json")
        || essence.ends_with("+xml")
        || matches!(
            essence.as_str(),
            "application/javascript"
                | "application/json"
                | "application/wasm"
                | "application/xml"
                | "application/manifest+json"
                | "image/svg+xml"
        )
}

type Slot = Arc<OnceCell<Bytes>>;

/// Encoded copies of file versions, by CID ETag and coding, at most [`CACHE_BYTES`] in all;
/// the oldest go first. Concurrent first requests of one version share one encoding.
#[derive(Debug, Default)]
pub(crate) struct EncodedCache {
    inner: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    slots: HashMap<(String, Encoding), Slot>,
    /// Admitted encodings, oldest first, with the slot and length each was admitted with:
    /// `bytes` is their sum, whatever happened to `slots` since (a failed encoding's slot is
    /// forgotten while another request may be filling a new one under the same key).
    order: VecDeque<((String, Encoding), Slot, usize)>,
    bytes: usize,
}

impl EncodedCache {
    /// The file at `path` (version `etag`) encoded with `encoding`, encoding it on a blocking
    /// thread the first time.
    pub(crate) async fn get(
        &self,
        etag: &str,
        encoding: Encoding,
        path: PathBuf,
    ) -> io::Result<Bytes> {
        let key = (etag.to_owned(), encoding);
        let slot = {
            let mut entries = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
            entries.slots.entry(key.clone()).or_default().clone()
        };
        let mut fresh = false;
        let encoded = slot
            .get_or_try_init(|| async {
                fresh = true;
                tokio::task::spawn_blocking(move || {
                    let data = std::fs::read(path)?;
                    encoding.encode(&data).map(Bytes::from)
                })
                .await
                .map_err(io::Error::other)?
            })
            .await;
        let encoded = match encoded {
            Ok(encoded) => encoded.clone(),
            Err(e) => {
                self.forget(&key, &slot);
                return Err(e);
            }
        };
        if fresh {
            self.admit(key, slot, encoded.len());
        }
        Ok(encoded)
    }

    /// Counts a new entry and drops the oldest ones beyond the budget.
    fn admit(&self, key: (String, Encoding), slot: Slot, len: usize) {
        let mut entries = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        entries.order.push_back((key, slot, len));
        entries.bytes += len;
        while entries.bytes > CACHE_BYTES {
            let Some((old, slot, len)) = entries.order.pop_front() else {
                break;
            };
            entries.bytes -= len;
            Self::remove_if(&mut entries.slots, &old, &slot);
        }
    }

    /// Drops the slot of a failed encoding (unless a newer one took its key).
    fn forget(&self, key: &(String, Encoding), slot: &Slot) {
        let mut entries = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        Self::remove_if(&mut entries.slots, key, slot);
    }

    fn remove_if(
        slots: &mut HashMap<(String, Encoding), Slot>,
        key: &(String, Encoding),
        slot: &Slot,
    ) {
        if slots.get(key).is_some_and(|s| Arc::ptr_eq(s, slot)) {
            slots.remove(key);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;
    use std::io::Read;

    /// The byte count stays what the kept encodings hold: a failed encoding's slot forgotten
    /// and the key filled again by another request, then both evicted, subtract what each
    /// was admitted with (before, the second eviction found no slot and the count only grew).
    #[test]
    fn evictions_subtract_what_was_admitted() {
        let cache = EncodedCache::default();
        let key = |etag: &str| (etag.to_owned(), Encoding::Gzip);
        let fill = |slot: &Slot| {
            let inserted = cache
                .inner
                .lock()
                .unwrap()
                .slots
                .insert(key("a"), slot.clone());
            assert!(inserted.is_none());
        };
        let first: Slot = Arc::default();
        fill(&first);
        cache.admit(key("a"), first.clone(), 1000);
        cache.forget(&key("a"), &first);
        let second: Slot = Arc::default();
        fill(&second);
        cache.admit(key("a"), second.clone(), 2000);
        cache.forget(&key("a"), &first);
        assert!(
            cache.inner.lock().unwrap().slots.contains_key(&key("a")),
            "forgetting the old slot leaves the new one"
        );
        cache.admit(key("b"), Arc::default(), CACHE_BYTES);
        let entries = cache.inner.lock().unwrap();
        assert_eq!(entries.bytes, CACHE_BYTES);
        assert_eq!(entries.order.len(), 1);
        assert!(!entries.slots.contains_key(&key("a")));
    }

    fn accept(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn negotiation_prefers_brotli_and_honours_q_zero() {
        assert_eq!(
            negotiate(&accept("gzip, deflate, br, zstd")),
            Some(Encoding::Brotli)
        );
        assert_eq!(negotiate(&accept("gzip")), Some(Encoding::Gzip));
        assert_eq!(negotiate(&accept("br;q=0, gzip")), Some(Encoding::Gzip));
        assert_eq!(negotiate(&accept("br;q=0, gzip;q=0")), None);
        assert_eq!(negotiate(&accept("*")), Some(Encoding::Brotli));
        assert_eq!(negotiate(&accept("*;q=0, gzip")), Some(Encoding::Gzip));
        assert_eq!(negotiate(&accept("identity")), None);
        assert_eq!(negotiate(&HeaderMap::new()), None);
    }

    #[test]
    fn only_compressible_types() {
        assert!(compressible("application/wasm"));
        assert!(compressible("text/javascript; charset=utf-8"));
        assert!(compressible("image/svg+xml"));
        assert!(!compressible("image/png"));
        assert!(!compressible("application/octet-stream"));
    }

    #[test]
    fn encodings_round_trip() {
        let data: Vec<u8> = (0..200_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let br = Encoding::Brotli.encode(&data).unwrap();
        let mut back = Vec::new();
        brotli::Decompressor::new(&br[..], 4096)
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data);
        assert!(br.len() < data.len() / 10);

        let gz = Encoding::Gzip.encode(&data).unwrap();
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data);
    }

    #[test]
    fn encoded_etags_differ_by_coding() {
        assert_eq!(Encoding::Brotli.etag("\"bafy\""), "\"bafy.br\"");
        assert_eq!(Encoding::Gzip.etag("\"bafy\""), "\"bafy.gzip\"");
    }
}
