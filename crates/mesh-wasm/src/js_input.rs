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

use js_sys::{Array, JSON, Object, Reflect};
use mesh_core::manifest::{MANIFEST_VERSION, MAX_MANIFEST_BYTES, Manifest};
use wasm_bindgen::{JsCast, JsValue};

use crate::config::{ConfigError, ICE_SERVER_KEYS, OPTION_NAMES, RawOptions};

/// The page's options object. Through `JSON` first, as before: what the page meant is what
/// `JSON.stringify` makes of it (a `URL` becomes its text, `undefined` and functions vanish).
pub(crate) fn options(options: &JsValue) -> Result<RawOptions, ConfigError> {
    if options.is_undefined() || options.is_null() {
        return Ok(RawOptions::default());
    }
    let text = JSON::stringify(options)
        .map_err(|_| bad("options", "the options cannot be serialised as JSON".into()))?;
    let value = JSON::parse(&String::from(text))
        .map_err(|e| bad("options", format!("not JSON: {}", js_message(&e))))?;
    if !value.is_object() || Array::is_array(&value) {
        return Err(bad("options", "the options must be an object".into()));
    }
    known_keys(&value, OPTION_NAMES, "options", "option")?;
    if let Ok(servers) = Reflect::get(&value, &"iceServers".into())
        && Array::is_array(&servers)
    {
        for server in Array::from(&servers).iter() {
            if server.is_object() {
                known_keys(&server, ICE_SERVER_KEYS, "iceServers", "RTCIceServer key")?;
            }
        }
    }
    // A value of the wrong type: serde's message says what it expected, not where.
    serde_wasm_bindgen::from_value(value).map_err(|e| bad("options", e.to_string()))
}

/// The site manifest's JSON text: parsed, its version checked first, then its shape and every
/// path and media type ([`Manifest::validate`]).
pub(crate) fn manifest(text: &str) -> Result<Manifest, ConfigError> {
    let refused = |reason: String| bad("manifest", reason);
    if text.len() > MAX_MANIFEST_BYTES {
        return Err(refused(format!(
            "manifest of {} bytes is over the {MAX_MANIFEST_BYTES}-byte limit",
            text.len()
        )));
    }
    let value = JSON::parse(text)
        .map_err(|e| refused(format!("invalid manifest JSON: {}", js_message(&e))))?;
    if !value.is_object() || Array::is_array(&value) {
        return Err(refused("invalid manifest JSON: not an object".into()));
    }
    let version = Reflect::get(&value, &"version".into()).unwrap_or(JsValue::UNDEFINED);
    match version.as_f64() {
        Some(v) if v == f64::from(MANIFEST_VERSION) => {}
        Some(v) if v.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&v) => {
            return Err(refused(format!("unsupported manifest version {v}")));
        }
        _ => {
            return Err(refused(
                "invalid manifest JSON: `version` is missing or not a whole number".into(),
            ));
        }
    }
    let manifest: Manifest = serde_wasm_bindgen::from_value(value)
        .map_err(|e| refused(format!("invalid manifest JSON: {e}")))?;
    manifest.validate().map_err(|e| refused(e.to_string()))?;
    Ok(manifest)
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

fn bad(option: &'static str, reason: String) -> ConfigError {
    ConfigError { option, reason }
}
