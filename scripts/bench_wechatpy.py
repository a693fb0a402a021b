#!/usr/bin/env python3
"""Times wechatpy's WeChatCrypto.decrypt_message on the same ticket push as the criterion bench
(verify msg_signature + decrypt; its xmltodict parses the envelope), then the parse of the
decrypted XML, and prints nanoseconds per push."""
import json
import sys
import timeit
import xml.etree.ElementTree as ET
from pathlib import Path

from wechatpy.crypto import WeChatCrypto

data = json.loads((Path(__file__).resolve().parent.parent / "shared/tests/data/push-crypto.json").read_text())
vector = next(v for v in data["vectors"] if v["name"] == "ticket")
crypto = WeChatCrypto(data["token"], data["encoding_aes_key"], data["component_appid"])
q = vector["query"]


def one_push():
    plain = crypto.decrypt_message(vector["body"], q["msg_signature"], q["timestamp"], q["nonce"])
    root = ET.fromstring(plain)
    assert root.findtext("InfoType") == "component_verify_ticket"


number = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
best = min(timeit.repeat(one_push, number=number, repeat=5)) / number
print(json.dumps({"implementation": "wechatpy 1.8.18", "ns_per_push": round(best * 1e9)}))
