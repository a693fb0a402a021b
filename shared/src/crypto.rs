//! WeChat message crypto (WXBizMsgCrypt scheme), WeChat's "消息加解密技术方案" (Technical_Plan).
//!
//! * signatures: SHA-1 hex over the sorted strings ("消息加解密技术方案"), compared in constant time;
//! * the AES key and IV from the 43-character EncodingAESKey ("消息加解密技术方案");
//! * AES-256-CBC with PKCS#7 padding to 32-byte blocks ("消息加解密技术方案");
//! * the plaintext layout `random(16) || len(4, BE) || msg || appid` ("消息加解密技术方案");
//! * the encrypted reply envelope ("消息加解密技术方案");
//! * key rotation: a previous EncodingAESKey tried when the current one fails ("消息加解密技术方案").

use aes::cipher::{block_padding::NoPadding, BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::engine::{GeneralPurpose, GeneralPurposeConfig};
use base64::{alphabet, Engine};
use secrecy::{ExposeSecret, SecretString};
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

type Aes256CbcEnc = cbc::Encryptor<aes::Aes256>;
type Aes256CbcDec = cbc::Decryptor<aes::Aes256>;

/// PKCS#7 block size used by WeChat (the key length, not the AES block size).
pub const PAD_BLOCK: usize = 32;
const RANDOM_LEN: usize = 16;
const LEN_FIELD: usize = 4;

/// Why a message could not be verified, decrypted or encrypted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error("EncodingAESKey must be 43 characters of [A-Za-z0-9] decoding to 32 bytes: {0}")]
    InvalidEncodingAesKey(&'static str),
    #[error("signature does not match")]
    BadSignature,
    #[error("Encrypt is empty")]
    EmptyCiphertext,
    #[error("Encrypt is not valid base64")]
    BadBase64,
    #[error("ciphertext length {0} is not a non-zero multiple of 16")]
    BadCiphertextLength(usize),
    #[error("padding byte {0} is not in 1..=32 or the padding bytes differ")]
    BadPadding(u8),
    #[error("plaintext too short for the random prefix and length field")]
    TruncatedPlaintext,
    #[error(
        "message length field {declared} runs past the end of the {available} available bytes"
    )]
    LengthPastEnd { declared: usize, available: usize },
    #[error("message is not valid UTF-8")]
    NotUtf8,
    #[error("appid trailer does not belong to this component")]
    WrongAppId { found: String },
    #[error("message too long to encrypt")]
    MessageTooLong,
}

/// The AES-256 key and IV derived from an EncodingAESKey.
#[derive(Clone)]
pub struct AesKey {
    key: [u8; 32],
}

impl std::fmt::Debug for AesKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AesKey(redacted)")
    }
}

impl AesKey {
    /// Derives key and IV: `base64(EncodingAESKey + "=")`, which must give exactly 32 bytes.
    pub fn from_encoding_aes_key(encoding_aes_key: &str) -> Result<Self, CryptoError> {
        if encoding_aes_key.len() != 43 {
            return Err(CryptoError::InvalidEncodingAesKey("length is not 43"));
        }
        if !encoding_aes_key.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(CryptoError::InvalidEncodingAesKey(
                "characters outside [A-Za-z0-9]",
            ));
        }
        // 43 base64 characters carry 258 bits; like WeChat's own code, the 2 extra bits are ignored
        // (Tencent's demo key `abc…EFG` has them set).
        const KEY_ENGINE: GeneralPurpose = GeneralPurpose::new(
            &alphabet::STANDARD,
            GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
        );
        let bytes = KEY_ENGINE
            .decode(format!("{encoding_aes_key}="))
            .map_err(|_| CryptoError::InvalidEncodingAesKey("not base64"))?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| CryptoError::InvalidEncodingAesKey("does not decode to 32 bytes"))?;
        Ok(Self { key })
    }

    fn iv(&self) -> [u8; 16] {
        let mut iv = [0u8; 16];
        iv.copy_from_slice(&self.key[..16]);
        iv
    }

    /// Encrypts `random || len || msg || appid` padded to 32 bytes; returns base64.
    pub fn encrypt(
        &self,
        random: &[u8; RANDOM_LEN],
        msg: &[u8],
        appid: &str,
    ) -> Result<String, CryptoError> {
        let msg_len = u32::try_from(msg.len()).map_err(|_| CryptoError::MessageTooLong)?;
        let mut plain =
            Vec::with_capacity(RANDOM_LEN + LEN_FIELD + msg.len() + appid.len() + PAD_BLOCK);
        plain.extend_from_slice(random);
        plain.extend_from_slice(&msg_len.to_be_bytes());
        plain.extend_from_slice(msg);
        plain.extend_from_slice(appid.as_bytes());
        let pad = PAD_BLOCK - plain.len() % PAD_BLOCK;
        plain.resize(plain.len() + pad, pad as u8);
        let len = plain.len();
        let cipher = Aes256CbcEnc::new(&self.key.into(), &self.iv().into())
            .encrypt_padded_mut::<NoPadding>(&mut plain, len)
            .expect("plaintext is padded to a multiple of the block size");
        Ok(BASE64.encode(cipher))
    }

    /// Decrypts base64 ciphertext into the message and the appid trailer.
    pub fn decrypt(&self, encrypt: &str) -> Result<Decrypted, CryptoError> {
        if encrypt.is_empty() {
            return Err(CryptoError::EmptyCiphertext);
        }
        let mut buf = BASE64.decode(encrypt).map_err(|_| CryptoError::BadBase64)?;
        if buf.is_empty() || buf.len() % 16 != 0 {
            return Err(CryptoError::BadCiphertextLength(buf.len()));
        }
        let plain = Aes256CbcDec::new(&self.key.into(), &self.iv().into())
            .decrypt_padded_mut::<NoPadding>(&mut buf)
            .map_err(|_| CryptoError::BadCiphertextLength(encrypt.len()))?;
        let plain = strip_padding(plain)?;
        parse_plaintext(plain)
    }
}

/// Removes PKCS#7 padding of up to 32 bytes; every padding byte must equal the count.
fn strip_padding(plain: &[u8]) -> Result<&[u8], CryptoError> {
    let pad = *plain.last().ok_or(CryptoError::TruncatedPlaintext)?;
    let n = pad as usize;
    if n == 0 || n > PAD_BLOCK || n > plain.len() {
        return Err(CryptoError::BadPadding(pad));
    }
    let (body, padding) = plain.split_at(plain.len() - n);
    if padding.iter().any(|&b| b != pad) {
        return Err(CryptoError::BadPadding(pad));
    }
    Ok(body)
}

fn parse_plaintext(plain: &[u8]) -> Result<Decrypted, CryptoError> {
    if plain.len() < RANDOM_LEN + LEN_FIELD {
        return Err(CryptoError::TruncatedPlaintext);
    }
    let rest = &plain[RANDOM_LEN..];
    let declared = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
    let rest = &rest[LEN_FIELD..];
    if declared > rest.len() {
        return Err(CryptoError::LengthPastEnd {
            declared,
            available: rest.len(),
        });
    }
    let (msg, appid) = rest.split_at(declared);
    let message = String::from_utf8(msg.to_vec()).map_err(|_| CryptoError::NotUtf8)?;
    let appid = String::from_utf8(appid.to_vec()).map_err(|_| CryptoError::NotUtf8)?;
    Ok(Decrypted { message, appid })
}

/// A decrypted message and the appid trailer it carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decrypted {
    pub message: String,
    pub appid: String,
}

/// Lower-case hex SHA-1 of the strings sorted and concatenated ("消息加解密技术方案").
pub fn sha1_sorted(parts: &[&str]) -> String {
    let mut sorted = parts.to_vec();
    sorted.sort_unstable();
    let mut hasher = Sha1::new();
    for part in sorted {
        hasher.update(part.as_bytes());
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Constant-time comparison of an expected signature with one received (case-insensitive hex).
pub fn signatures_match(expected: &str, received: &str) -> bool {
    let received = received.to_ascii_lowercase();
    expected.as_bytes().ct_eq(received.as_bytes()).into()
}

/// Verifies and decrypts pushes and encrypts replies for one component.
///
/// Holds the component Token, its appid, the current key and optionally the previous key
/// (kept after a rotation in the console, tried when the current one fails).
#[derive(Clone)]
pub struct MessageCrypto {
    token: SecretString,
    appid: String,
    current: AesKey,
    previous: Option<AesKey>,
}

impl std::fmt::Debug for MessageCrypto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageCrypto")
            .field("appid", &self.appid)
            .field("has_previous_key", &self.previous.is_some())
            .finish_non_exhaustive()
    }
}

/// Which key opened a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyUsed {
    Current,
    Previous,
}

impl MessageCrypto {
    /// Validates both keys now, so a bad configuration fails at start-up, not at the first push.
    pub fn new(
        token: SecretString,
        appid: impl Into<String>,
        encoding_aes_key: &str,
        previous_encoding_aes_key: Option<&str>,
    ) -> Result<Self, CryptoError> {
        Ok(Self::from_keys(
            token,
            appid,
            AesKey::from_encoding_aes_key(encoding_aes_key)?,
            previous_encoding_aes_key
                .map(AesKey::from_encoding_aes_key)
                .transpose()?,
        ))
    }

    /// From keys already derived.
    pub fn from_keys(
        token: SecretString,
        appid: impl Into<String>,
        current: AesKey,
        previous: Option<AesKey>,
    ) -> Self {
        Self {
            token,
            appid: appid.into(),
            current,
            previous,
        }
    }

    pub fn appid(&self) -> &str {
        &self.appid
    }

    /// `signature` of a URL check or push: SHA-1 over sorted (token, timestamp, nonce).
    pub fn signature(&self, timestamp: &str, nonce: &str) -> String {
        sha1_sorted(&[self.token.expose_secret(), timestamp, nonce])
    }

    /// `msg_signature` of a push: SHA-1 over sorted (token, timestamp, nonce, Encrypt).
    pub fn msg_signature(&self, timestamp: &str, nonce: &str, encrypt: &str) -> String {
        sha1_sorted(&[self.token.expose_secret(), timestamp, nonce, encrypt])
    }

    /// Checks `msg_signature` in constant time.
    pub fn verify_msg_signature(
        &self,
        msg_signature: &str,
        timestamp: &str,
        nonce: &str,
        encrypt: &str,
    ) -> Result<(), CryptoError> {
        let expected = self.msg_signature(timestamp, nonce, encrypt);
        if signatures_match(&expected, msg_signature) {
            Ok(())
        } else {
            Err(CryptoError::BadSignature)
        }
    }

    /// Decrypts with the current key, then the previous one; the appid trailer must be ours.
    ///
    /// When both keys fail, the current key's error is reported.
    pub fn decrypt(&self, encrypt: &str) -> Result<(String, KeyUsed), CryptoError> {
        let opened = match self.current.decrypt(encrypt) {
            Ok(d) => Ok((d, KeyUsed::Current)),
            Err(first) => match &self.previous {
                Some(previous) => previous
                    .decrypt(encrypt)
                    .map(|d| (d, KeyUsed::Previous))
                    .map_err(|_| first),
                None => Err(first),
            },
        };
        let (decrypted, key) = opened?;
        if decrypted.appid != self.appid {
            return Err(CryptoError::WrongAppId {
                found: decrypted.appid,
            });
        }
        Ok((decrypted.message, key))
    }

    /// Verifies `msg_signature` then decrypts (the usual path of a push).
    pub fn open(
        &self,
        msg_signature: &str,
        timestamp: &str,
        nonce: &str,
        encrypt: &str,
    ) -> Result<(String, KeyUsed), CryptoError> {
        self.verify_msg_signature(msg_signature, timestamp, nonce, encrypt)?;
        self.decrypt(encrypt)
    }

    /// Encrypts with the given key (the one that opened the request) and a fixed random prefix.
    pub fn encrypt_with(
        &self,
        key: KeyUsed,
        random: &[u8; 16],
        msg: &str,
    ) -> Result<String, CryptoError> {
        let aes = match (key, &self.previous) {
            (KeyUsed::Previous, Some(previous)) => previous,
            _ => &self.current,
        };
        aes.encrypt(random, msg.as_bytes(), &self.appid)
    }

    /// Encrypts with the current key and a fresh random prefix.
    pub fn encrypt(&self, msg: &str) -> Result<String, CryptoError> {
        self.encrypt_with(KeyUsed::Current, &random_prefix(), msg)
    }

    /// The encrypted reply envelope of "消息加解密技术方案" for `msg`, signed with `timestamp` and `nonce`.
    pub fn reply_envelope(
        &self,
        key: KeyUsed,
        random: &[u8; 16],
        msg: &str,
        timestamp: &str,
        nonce: &str,
    ) -> Result<String, CryptoError> {
        let encrypt = self.encrypt_with(key, random, msg)?;
        let signature = self.msg_signature(timestamp, nonce, &encrypt);
        Ok(format!(
            "<xml>\n<Encrypt><![CDATA[{encrypt}]]></Encrypt>\n<MsgSignature><![CDATA[{signature}]]></MsgSignature>\n<TimeStamp>{timestamp}</TimeStamp>\n<Nonce><![CDATA[{nonce}]]></Nonce>\n</xml>"
        ))
    }
}

/// 16 random alphanumeric bytes, like WeChat's own samples.
pub fn random_prefix() -> [u8; 16] {
    use rand::distr::{Alphanumeric, Distribution};
    let mut rng = rand::rng();
    let mut out = [0u8; 16];
    for b in &mut out {
        *b = Alphanumeric.sample(&mut rng);
    }
    out
}
