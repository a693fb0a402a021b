//! The crypto against vectors made by others: WeChat's official samples (the samples of "消息加解密技术方案" and "消息推送") and
//! pushes encrypted by wechatpy (../shared/vectors/push-crypto.json, copied to tests/data).

use base64::Engine;
use devstack::vectors::VectorFile;
use secrecy::SecretString;
use shared::crypto::{sha1_sorted, AesKey, CryptoError, KeyUsed, MessageCrypto};
use shared::push::{AuthorizationPush, Envelope};

fn crypto(token: &str, key: &str, appid: &str) -> MessageCrypto {
    MessageCrypto::new(SecretString::from(token), appid, key, None).unwrap()
}

fn random(text: &str) -> [u8; 16] {
    text.as_bytes().try_into().unwrap()
}

const KEY_A: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

// the "消息推送" page's sample: the official open-platform push (component appid trailer, XML message).
const A_ENCRYPT: &str = "D7yzvUNAL930rd28wf21s4hvXhz0L6Uit/p2Di6C5DHyYGpEgdBRnKjBec34JwoQXicwaZC7fOVihW80F4VtsdvE//1vr7oAbqjDv8KenVp+ajKYpJnyQ4zMRhIC+a31fCVOMC03FfzV/QuC94kBP55a+Za3sJgvAn+ZbsNqZI5DkyuzkhQN8OBqCzFhizGmy0xpM0MEA4agpvE+RuNO1rhHTtuJB5yltw1FiYzecSXJ+y/D2r81VkRn2eYjh2ltsoyfbDR7Is6ookXIFxTfyeNyeHxMeT4KN5WpCDmSbTcUYrbBUlkGLJ9n/rU8YOywma6G7aTb7KZKOqCxgfoUlYEZPk4FUL/TK7ShriFDMVCLyjQJ15Ob++agDWtcxhfUfe6HIoIpRW8mKNBQiY/Jd1svvuskA1wLef1RTtzKfMpagSCX/laZINmdnX4zrF6kIaR9P4xQrWXbsTFHTYe0Mg==";

#[test]
fn official_open_platform_vector_a() {
    let c = crypto("AAAAA", KEY_A, "wx134c8103faa5a59e");
    assert_eq!(
        c.signature("1715943329", "1590219412"),
        "cc0c594499c1634947d5b502f158ee518947db27"
    );
    let (msg, key) = c
        .open(
            "6c12a4205838198b8fa631b3220723bb07f1015c",
            "1715943329",
            "1590219412",
            A_ENCRYPT,
        )
        .unwrap();
    assert_eq!(key, KeyUsed::Current);
    let expected = [
        "<xml><ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName>",
        "<FromUserName><![CDATA[o9AgO5Kd5ggOC-bXrbNODIiE3bGY]]></FromUserName>",
        "<CreateTime>1715943329</CreateTime>",
        "<MsgType><![CDATA[event]]></MsgType>",
        "<Event><![CDATA[debug_demo]]></Event>",
        "<debug_str><![CDATA[hello world]]></debug_str>",
        "</xml>",
    ]
    .join("\n");
    assert_eq!(msg.len(), 292);
    assert_eq!(msg, expected);
    // Encrypting the same message with the sample's random prefix gives WeChat's bytes back.
    let again = c
        .encrypt_with(KeyUsed::Current, &random("1205899eaf019bbd"), &msg)
        .unwrap();
    assert_eq!(again, A_ENCRYPT);

    // The official encrypted reply.
    let reply = c
        .reply_envelope(
            KeyUsed::Current,
            &random("999951349e8ee746"),
            "<xml><demo_resp>[CDATA[good luck]]</demo_resp></xml>",
            "1713424427",
            "415670741",
        )
        .unwrap();
    let reply_encrypt = "hE8R6mGXHkJJjU72KxzKUd1GEkKJaEZq7vRL8XgK3o+00k8JGq6+pZJUIlTSyhsX+bxIBQ72g3GyvDdIZcr6+3HAZbSvPT9t/o11MI7d6WELwqrGd7jMnV0zv3Zc9Nq7";
    assert!(
        reply.contains(&format!("<Encrypt><![CDATA[{reply_encrypt}]]></Encrypt>")),
        "{reply}"
    );
    assert!(reply.contains(
        "<MsgSignature><![CDATA[03e0812039325c2712ef5f0f980fd14c70d6e307]]></MsgSignature>"
    ));
    assert!(reply.contains("<TimeStamp>1713424427</TimeStamp>"));
    assert!(reply.contains("<Nonce><![CDATA[415670741]]></Nonce>"));
}

#[test]
fn official_mini_program_vector_b() {
    let c = crypto("AAAAA", KEY_A, "wxba5fad812f8e6fb9");
    let encrypt = "+qdx1OKCy+5JPCBFWw70tm0fJGb2Jmeia4FCB7kao+/Q5c/ohsOzQHi8khUOb05JCpj0JB4RvQMkUyus8TPxLKJGQqcvZqzDpVzazhZv6JsXUnnR8XGT740XgXZUXQ7vJVnAG+tE8NUd4yFyjPy7GgiaviNrlCTj+l5kdfMuFUPpRSrfMZuMcp3Fn2Pede2IuQrKEYwKSqFIZoNqJ4M8EajAsjLY2km32IIjdf8YL/P50F7mStwntrA2cPDrM1kb6mOcfBgRtWygb3VIYnSeOBrebufAlr7F9mFUPAJGj04=";
    let (msg, _) = c
        .open(
            "046e02f8204d34f8ba5fa3b1db94908f3df2e9b3",
            "1714112445",
            "415670741",
            encrypt,
        )
        .unwrap();
    assert_eq!(
        msg,
        r#"{"ToUserName":"gh_97417a04a28d","FromUserName":"o9AgO5Kd5ggOC-bXrbNODIiE3bGY","CreateTime":1714112445,"MsgType":"event","Event":"debug_demo","debug_str":"hello world"}"#
    );
    // The plain signature of the same timestamp and nonce.
    assert_eq!(
        c.signature("1714112445", "415670741"),
        "6c5c811b55cc85e0e1b54100749188c20beb3f5d"
    );
    assert_eq!(
        c.encrypt_with(KeyUsed::Current, &random("a8eedb185eb2fecf"), &msg)
            .unwrap(),
        encrypt
    );
    let reply = c
        .encrypt_with(
            KeyUsed::Current,
            &random("707722b803182950"),
            r#"{"demo_resp":"good luck"}"#,
        )
        .unwrap();
    assert_eq!(
        reply,
        "ELGduP2YcVatjqIS+eZbp80MNLoAUWvzzyJxgGzxZO/5sAvd070Bs6qrLARC9nVHm48Y4hyRbtzve1L32tmxSQ=="
    );
    assert_eq!(
        c.msg_signature("1713424427", "415670741", &reply),
        "1b9339964ed2e271e7c7b6ff2b0ef902fc94dea1"
    );
}

#[test]
fn official_plain_signatures_c() {
    let c = crypto("AAAAA", KEY_A, "wx");
    for (timestamp, nonce, signature) in [
        (
            "1714036504",
            "1514711492",
            "f464b24fc39322e44b38aa78f5edd27bd1441696",
        ),
        (
            "1714037059",
            "486452656",
            "899cf89e464efb63f54ddac96b0a0a235f53aa78",
        ),
    ] {
        assert_eq!(
            c.signature(timestamp, nonce),
            signature,
            "{timestamp} {nonce}"
        );
    }
}

#[test]
fn tencent_java_demo_vector_d() {
    let key = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
    let c = crypto("pamtest", key, "wxb11529c136998cb6");
    let encrypt =
        "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg==";
    assert_eq!(
        c.encrypt_with(
            KeyUsed::Current,
            &random("aaaabbbbccccdddd"),
            "我是中文abcd123"
        )
        .unwrap(),
        encrypt
    );
    assert_eq!(
        c.msg_signature("1409304348", "xxxxxx", encrypt),
        "82c962d39941aa48552f90ef55aa323dc620cc10"
    );
    let (msg, _) = c
        .open(
            "82c962d39941aa48552f90ef55aa323dc620cc10",
            "1409304348",
            "xxxxxx",
            encrypt,
        )
        .unwrap();
    assert_eq!(msg, "我是中文abcd123");
    // The derived AES key matches the demo's (hex).
    let aes = AesKey::from_encoding_aes_key(key).unwrap();
    let ours = aes
        .encrypt(
            &random("aaaabbbbccccdddd"),
            "我是中文abcd123".as_bytes(),
            "wxb11529c136998cb6",
        )
        .unwrap();
    assert_eq!(ours, encrypt);
}

#[test]
fn wechatpy_work_vector_e() {
    let c = crypto(
        "123456",
        "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR",
        "wx49f0ab532d5d035a",
    );
    let echostr =
        "4ByGGj+sVCYcvGeQYhaKIk1o0pQRNbRjxybjTGblXrBaXlTXeOo1+bXFXDQQb1o6co6Yh9Bv41n7hOchLF6p+Q==";
    let (msg, _) = c
        .open(
            "dd6b9c95b495b3f7e2901bfbc76c664930ffdb96",
            "1411443780",
            "437374425",
            echostr,
        )
        .unwrap();
    assert_eq!(msg, "5927782489442352469");
}

fn independent_vectors() -> VectorFile {
    devstack::vectors::push_crypto()
}

#[test]
fn wechatpy_push_vectors() {
    let file = independent_vectors();
    let c = crypto(&file.token, &file.encoding_aes_key, &file.component_appid);
    let mut accepted = 0;
    let mut rejected = 0;
    for v in &file.vectors {
        let envelope = Envelope::parse(&v.body).unwrap();
        let opened = c.open(
            &v.query["msg_signature"],
            &v.query["timestamp"],
            &v.query["nonce"],
            &envelope.encrypt,
        );
        if v.expect == "reject" {
            let err = opened.expect_err(&v.name);
            assert!(
                matches!(
                    err,
                    CryptoError::BadSignature | CryptoError::WrongAppId { .. }
                ),
                "{}: {err:?}",
                v.name
            );
            rejected += 1;
        } else {
            let (msg, _) = opened.unwrap_or_else(|e| panic!("{}: {e:?}", v.name));
            assert_eq!(msg, v.plaintext, "{}", v.name);
            let push = AuthorizationPush::parse(&msg).unwrap();
            assert_eq!(push.info_type, v.expect, "{}", v.name);
            assert_eq!(push.component_appid, file.component_appid);
            accepted += 1;
        }
    }
    assert_eq!((accepted, rejected), (5, 2));
}

#[test]
fn previous_key_is_tried_after_rotation() {
    let file = independent_vectors();
    let v = file.vector("ticket");
    let envelope = Envelope::parse(&v.body).unwrap();
    // The console now has a new key; the push was encrypted with the old one.
    let rotated = MessageCrypto::new(
        SecretString::from(file.token.as_str()),
        &file.component_appid,
        KEY_A,
        Some(&file.encoding_aes_key),
    )
    .unwrap();
    let (msg, key) = rotated
        .open(
            &v.query["msg_signature"],
            &v.query["timestamp"],
            &v.query["nonce"],
            &envelope.encrypt,
        )
        .unwrap();
    assert_eq!(
        (msg.as_str(), key),
        (v.plaintext.as_str(), KeyUsed::Previous)
    );
    // Without the previous key it cannot be opened.
    let without = crypto(&file.token, KEY_A, &file.component_appid);
    assert!(without.decrypt(&envelope.encrypt).is_err());
}

#[test]
fn bad_encoding_aes_keys_are_configuration_errors() {
    for bad in [
        "",
        "short",
        &"A".repeat(44),
        &format!("{}-", "A".repeat(42)),
        &format!("{}=", "A".repeat(42)),
    ] {
        assert!(
            matches!(
                AesKey::from_encoding_aes_key(bad),
                Err(CryptoError::InvalidEncodingAesKey(_))
            ),
            "{bad:?}"
        );
    }
}

#[test]
fn signature_check_is_exact() {
    assert_eq!(sha1_sorted(&["b", "a"]), sha1_sorted(&["a", "b"]));
    let c = crypto("AAAAA", KEY_A, "wx134c8103faa5a59e");
    let good = "6c12a4205838198b8fa631b3220723bb07f1015c";
    assert!(c
        .verify_msg_signature(good, "1715943329", "1590219412", A_ENCRYPT)
        .is_ok());
    assert!(c
        .verify_msg_signature(&good.to_uppercase(), "1715943329", "1590219412", A_ENCRYPT)
        .is_ok());
    for bad in [
        "",
        &good[..39],
        &format!("{good}0"),
        "6c12a4205838198b8fa631b3220723bb07f1015d",
    ] {
        assert_eq!(
            c.verify_msg_signature(bad, "1715943329", "1590219412", A_ENCRYPT),
            Err(CryptoError::BadSignature),
            "{bad:?}"
        );
    }
    // Any change to the signed strings breaks it.
    assert!(c
        .verify_msg_signature(good, "1715943330", "1590219412", A_ENCRYPT)
        .is_err());
    assert!(c
        .verify_msg_signature(good, "1715943329", "1590219413", A_ENCRYPT)
        .is_err());
}

/// Encrypts raw plaintext bytes (already laid out and padded) so that malformed layouts can be made.
fn encrypt_raw(key: &str, plain: &[u8]) -> String {
    use aes::cipher::{block_padding::NoPadding, BlockEncryptMut, KeyIvInit};
    let key_bytes = base64::engine::general_purpose::STANDARD
        .decode(format!("{key}="))
        .unwrap();
    let mut buf = plain.to_vec();
    let len = buf.len();
    let out = cbc::Encryptor::<aes::Aes256>::new(key_bytes[..32].into(), key_bytes[..16].into())
        .encrypt_padded_mut::<NoPadding>(&mut buf, len)
        .unwrap()
        .to_vec();
    base64::engine::general_purpose::STANDARD.encode(out)
}

fn layout(msg: &[u8], declared_len: u32, appid: &[u8]) -> Vec<u8> {
    let mut plain = b"0123456789abcdef".to_vec();
    plain.extend_from_slice(&declared_len.to_be_bytes());
    plain.extend_from_slice(msg);
    plain.extend_from_slice(appid);
    plain
}

fn pad32(mut plain: Vec<u8>) -> Vec<u8> {
    let pad = 32 - plain.len() % 32;
    plain.resize(plain.len() + pad, pad as u8);
    plain
}

#[test]
fn malformed_ciphertexts_give_typed_errors() {
    let c = crypto("AAAAA", KEY_A, "wxappid");
    assert_eq!(c.decrypt(""), Err(CryptoError::EmptyCiphertext));
    assert_eq!(c.decrypt("not base64!!"), Err(CryptoError::BadBase64));
    assert_eq!(c.decrypt("QUJD"), Err(CryptoError::BadCiphertextLength(3)));
    let seventeen = base64::engine::general_purpose::STANDARD.encode([7u8; 17]);
    assert_eq!(
        c.decrypt(&seventeen),
        Err(CryptoError::BadCiphertextLength(17))
    );

    // Padding byte 0, padding byte 33, and padding bytes that differ.
    let mut zero_pad = layout(b"hi", 2, b"wxappid");
    zero_pad.resize(32, 0);
    assert_eq!(
        c.decrypt(&encrypt_raw(KEY_A, &zero_pad)),
        Err(CryptoError::BadPadding(0))
    );
    let mut big_pad = layout(b"hi", 2, b"wxappid");
    big_pad.resize(64, 33);
    assert_eq!(
        c.decrypt(&encrypt_raw(KEY_A, &big_pad)),
        Err(CryptoError::BadPadding(33))
    );
    let mut mixed = pad32(layout(b"hi", 2, b"wxappid"));
    let n = mixed.len();
    mixed[n - 2] ^= 1;
    assert!(matches!(
        c.decrypt(&encrypt_raw(KEY_A, &mixed)),
        Err(CryptoError::BadPadding(_))
    ));

    // A length field that runs past the end.
    let long = pad32(layout(b"hi", 5000, b"wxappid"));
    assert!(matches!(
        c.decrypt(&encrypt_raw(KEY_A, &long)),
        Err(CryptoError::LengthPastEnd { declared: 5000, .. })
    ));
    // Too short for random and length.
    let mut short = b"0123456789".to_vec();
    short.resize(16, 6);
    assert_eq!(
        c.decrypt(&encrypt_raw(KEY_A, &short)),
        Err(CryptoError::TruncatedPlaintext)
    );
    // Message bytes that are not UTF-8.
    let latin1 = pad32(layout(&[0xff, 0xfe], 2, b"wxappid"));
    assert_eq!(
        c.decrypt(&encrypt_raw(KEY_A, &latin1)),
        Err(CryptoError::NotUtf8)
    );
    // Somebody else's appid trailer.
    let foreign = pad32(layout(b"hi", 2, b"wxsomeoneelse"));
    assert_eq!(
        c.decrypt(&encrypt_raw(KEY_A, &foreign)),
        Err(CryptoError::WrongAppId {
            found: "wxsomeoneelse".into()
        })
    );
    // The layout itself is right: the same bytes with our appid decrypt.
    let ours = pad32(layout(b"hi", 2, b"wxappid"));
    assert_eq!(c.decrypt(&encrypt_raw(KEY_A, &ours)).unwrap().0, "hi");
}

#[test]
fn sixteen_byte_block_senders_also_decode() {
    // Some senders pad to 16; the receiver accepts any multiple of 16 and pads of 1..=32.
    let c = crypto("AAAAA", KEY_A, "wxappid");
    let mut plain = layout(b"hello", 5, b"wxappid");
    let pad = 16 - plain.len() % 16;
    plain.resize(plain.len() + pad, pad as u8);
    assert_eq!(plain.len() % 32, 16);
    assert_eq!(c.decrypt(&encrypt_raw(KEY_A, &plain)).unwrap().0, "hello");
}

mod round_trip {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_message_round_trips(
            msg in prop_oneof![
                ".{0,200}",
                "[\\x{4e00}-\\x{9fff}a-z<>&]{0,70}",
                // total plaintext (16 + 4 + msg + 18-byte appid) one below, at and one above a multiple of 32
                (2usize..6, 0usize..3).prop_map(|(blocks, delta)| "a".repeat(blocks * 32 - 39 + delta)),
            ],
            prefix in proptest::array::uniform16(any::<u8>()),
            appid in "wx[0-9a-f]{16}",
        ) {
            let c = MessageCrypto::new(SecretString::from("token"), appid.clone(), "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", None).unwrap();
            let encrypt = c.encrypt_with(KeyUsed::Current, &prefix, &msg).unwrap();
            let raw = base64::engine::general_purpose::STANDARD.decode(&encrypt).unwrap();
            prop_assert_eq!(raw.len() % 32, 0);
            let expected_len = (16 + 4 + msg.len() + appid.len()) / 32 * 32 + 32;
            prop_assert_eq!(raw.len(), expected_len);
            let signature = c.msg_signature("1", "n", &encrypt);
            let (back, _) = c.open(&signature, "1", "n", &encrypt).unwrap();
            prop_assert_eq!(back, msg);
        }
    }
}
