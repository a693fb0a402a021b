//! The independent push vectors (wechatpy), `shared/tests/data/push-crypto.json`: a copy of the
//! team's `../shared/vectors/push-crypto.json`.

use std::collections::HashMap;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct VectorFile {
    pub token: String,
    pub encoding_aes_key: String,
    pub component_appid: String,
    pub vectors: Vec<Vector>,
}

#[derive(Debug, Deserialize)]
pub struct Vector {
    pub name: String,
    /// An InfoType the receiver must accept, or `reject`.
    pub expect: String,
    pub query: HashMap<String, String>,
    pub body: String,
    pub plaintext: String,
}

impl VectorFile {
    pub fn vector(&self, name: &str) -> &Vector {
        self.vectors
            .iter()
            .find(|v| v.name == name)
            .unwrap_or_else(|| panic!("no vector named {name}"))
    }
}

pub fn push_crypto() -> VectorFile {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/tests/data/push-crypto.json"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}
