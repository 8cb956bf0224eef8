//! The page's options and the site manifest, read from JavaScript values.
//!
//! Both are parsed by the browser's `JSON` and read into their Rust types with
//! serde-wasm-bindgen, so the wasm carries no JSON parser of its own: 12 KB less of the gzipped
//! module than with serde_json (docs/BENCHMARKS-WEBRTC.md, "No JSON parser in the wasm").
//! What serde-wasm-bindgen does not check is checked here: it reads only the fields a struct
//! names, so unknown option names are refused against [`OPTION_NAMES`] and [`ICE_SERVER_KEYS`],
//! and the manifest's version is read before its shape, as [`Manifest::from_json`] does.
//!
//! [`Manifest::from_json`]: mesh_core::manifest::Manifest::from_json

use cid::Cid;
use js_sys::{Array, JSON, JsString, Object, Reflect};
use mesh_core::manifest::{MANIFEST_VERSION, MAX_MANIFEST_BYTES, Manifest, ManifestError};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};

use crate::config::{ConfigError, ICE_SERVER_KEYS, OPTION_NAMES, RawOptions};

/// The page's options object. Through `JSON` first, as before: what the page meant is what
/// `JSON.stringify` makes of it (a `URL` becomes its text, `undefined` and functions vanish).
pub(crate) fn options(options: &JsValue) -> Result<RawOptions, ConfigError> {
    if options.is_undefined() || options.is_null() {
        return Ok(RawOptions::default());
    }
    let value = plain_object(options)
        .and_then(|o| JSON::stringify(o).ok())
        .and_then(|text| text.as_string())
        .and_then(|text| JSON::parse(&text).ok())
        .and_then(|value| plain_object(&value).cloned())
        .ok_or_else(|| bad("options", "the options must be an object JSON can hold"))?;
    known_keys(&value, OPTION_NAMES, "options", "option")?;
    if let Ok(servers) = Reflect::get(&value, &"iceServers".into())
        && Array::is_array(&servers)
    {
        for server in Array::from(&servers).iter() {
            if let Some(server) = plain_object(&server) {
                known_keys(server, ICE_SERVER_KEYS, "iceServers", "RTCIceServer key")?;
            }
        }
    }
    // A value of the wrong type: serde's message says what it expected, not where.
    serde_wasm_bindgen::from_value(value).map_err(|e| bad("options", e.to_string()))
}

/// The site manifest's JSON text, parsed where it is (in JS: the text is not copied back and
/// forth), its version checked first, then its shape and every path and media type
/// ([`Manifest::validate`]); with the manifest's CID, the site's rendezvous key.
pub(crate) fn manifest(text: &JsString) -> Result<(Manifest, Cid), ConfigError> {
    let refused = |e: ManifestError| bad("manifest", e.to_string());
    let too_large = |size: usize| {
        refused(ManifestError::TooLarge {
            size,
            max: MAX_MANIFEST_BYTES,
        })
    };
    // A UTF-16 unit is at least one byte of UTF-8: over the limit already, without a copy
    // (the size named is then a lower bound).
    let units = text.length() as usize;
    if units > MAX_MANIFEST_BYTES {
        return Err(too_large(units));
    }
    let bytes = String::from(text).into_bytes();
    if bytes.len() > MAX_MANIFEST_BYTES {
        return Err(too_large(bytes.len()));
    }
    let site = mesh_core::dag::cid_of(&bytes);
    let invalid = |reason: &str| bad("manifest", format!("invalid manifest JSON: {reason}"));
    let value = parse_js_string(text)
        .map_err(|e| invalid(&js_message(&e)))
        .and_then(|v| {
            plain_object(&v)
                .cloned()
                .ok_or_else(|| invalid("not an object"))
        })?;
    let version = Reflect::get(&value, &"version".into()).unwrap_or(JsValue::UNDEFINED);
    match version.as_f64() {
        Some(v) if v == f64::from(MANIFEST_VERSION) => {}
        Some(v) if v.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&v) => {
            return Err(refused(ManifestError::UnsupportedVersion(v as u32)));
        }
        _ => return Err(invalid("`version` is missing or not a whole number")),
    }
    let manifest: Manifest =
        serde_wasm_bindgen::from_value(value).map_err(|e| invalid(&e.to_string()))?;
    manifest.validate().map_err(refused)?;
    Ok((manifest, site))
}

#[wasm_bindgen]
extern "C" {
    /// `JSON.parse` of a JS string as it is: js-sys's takes a `&str`, which would copy the
    /// text into JS again.
    #[wasm_bindgen(js_namespace = JSON, js_name = parse, catch)]
    fn parse_js_string(text: &JsString) -> Result<JsValue, JsValue>;
}

/// `value` if it is an object and not an array: what options and manifests are.
fn plain_object(value: &JsValue) -> Option<&JsValue> {
    (value.is_object() && !Array::is_array(value)).then_some(value)
}

/// Refuses a key of `value` not in `known`.
fn known_keys(
    value: &JsValue,
    known: &[&str],
    option: &'static str,
    what: &str,
) -> Result<(), ConfigError> {
    for key in Object::keys(value.unchecked_ref::<Object>()).iter() {
        let key = key.as_string().unwrap_or_default();
        if !known.contains(&key.as_str()) {
            return Err(bad(
                option,
                format!("unknown {what} `{key}` (known: {})", known.join(", ")),
            ));
        }
    }
    Ok(())
}

fn js_message(error: &JsValue) -> String {
    Reflect::get(error, &"message".into())
        .ok()
        .and_then(|m| m.as_string())
        .unwrap_or_else(|| "unknown error".to_owned())
}

fn bad(option: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        option,
        reason: reason.into(),
    }
}
