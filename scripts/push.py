#!/usr/bin/env python3
"""Send WeChat authorization-event pushes to the local stack, encrypted by wechatpy.

wechatpy is an implementation independent of this project, so a push it encrypts that the
functions accept shows they interoperate. Component settings come from the COMPONENT_* variables,
or from scripts/demo-component.env when those are not set (the same rule as `make dev`).

    .venv/bin/python scripts/push.py ticket                    # a fresh component_verify_ticket
    .venv/bin/python scripts/push.py ticket --create-time $(( $(date +%s) - 600 )) --ticket old
    .venv/bin/python scripts/push.py authorized --authorizer wxaaaaaaaaaaaaaaaa
    .venv/bin/python scripts/push.py tampered                  # must be refused with 401
"""
import argparse
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

from wechatpy.crypto import WeChatCrypto

ROOT = Path(__file__).resolve().parent.parent


def component_settings():
    names = ["COMPONENT_APPID", "COMPONENT_TOKEN", "COMPONENT_ENCODING_AES_KEY"]
    if all(os.environ.get(n) for n in names):
        return {n: os.environ[n] for n in names}
    settings = {}
    for line in (ROOT / "scripts" / "demo-component.env").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            settings[key.strip()] = value.strip()
    return settings


def plaintext(kind, appid, create_time, args):
    head = f"<xml><AppId><![CDATA[{appid}]]></AppId><CreateTime>{create_time}</CreateTime>"
    if kind in ("ticket", "tampered"):
        return head + (
            "<InfoType><![CDATA[component_verify_ticket]]></InfoType>"
            f"<ComponentVerifyTicket><![CDATA[{args.ticket}]]></ComponentVerifyTicket></xml>"
        )
    if kind in ("authorized", "updateauthorized"):
        return head + (
            f"<InfoType><![CDATA[{kind}]]></InfoType>"
            f"<AuthorizerAppid><![CDATA[{args.authorizer}]]></AuthorizerAppid>"
            f"<AuthorizationCode><![CDATA[queryauthcode@@@{uuid.uuid4().hex}]]></AuthorizationCode>"
            f"<AuthorizationCodeExpiredTime>{create_time + 3600}</AuthorizationCodeExpiredTime>"
            f"<PreAuthCode><![CDATA[preauthcode@@@{uuid.uuid4().hex}]]></PreAuthCode></xml>"
        )
    if kind == "unauthorized":
        return head + (
            "<InfoType><![CDATA[unauthorized]]></InfoType>"
            f"<AuthorizerAppid><![CDATA[{args.authorizer}]]></AuthorizerAppid></xml>"
        )
    raise SystemExit(f"unknown push kind {kind}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=["ticket", "authorized", "updateauthorized", "unauthorized", "tampered"])
    parser.add_argument("--url", default=f"http://127.0.0.1:{os.environ.get('API_PORT', '9000')}/wechat/component/notify")
    parser.add_argument("--ticket", default=None, help="ticket value (default: a fresh one)")
    parser.add_argument("--create-time", type=int, default=None, help="CreateTime (default: now)")
    parser.add_argument("--authorizer", default="wxaaaaaaaaaaaaaaaa", help="authorizer appid")
    args = parser.parse_args()
    args.ticket = args.ticket or f"ticket@@@{uuid.uuid4().hex}"

    settings = component_settings()
    appid = settings["COMPONENT_APPID"]
    crypto = WeChatCrypto(settings["COMPONENT_TOKEN"], settings["COMPONENT_ENCODING_AES_KEY"], appid)
    create_time = args.create_time or int(time.time())
    timestamp, nonce = str(int(time.time())), uuid.uuid4().hex[:10]
    sealed = crypto.encrypt_message(plaintext(args.kind, appid, create_time, args), nonce, timestamp)
    encrypt = re.search(r"<Encrypt><!\[CDATA\[(.*?)\]\]></Encrypt>", sealed).group(1)
    signature = re.search(r"<MsgSignature><!\[CDATA\[(.*?)\]\]></MsgSignature>", sealed).group(1)
    if args.kind == "tampered":
        signature = ("0" if signature[0] != "0" else "1") + signature[1:]
    query = urllib.parse.urlencode(
        {"signature": "", "timestamp": timestamp, "nonce": nonce, "encrypt_type": "aes", "msg_signature": signature}
    )
    body = f"<xml><AppId><![CDATA[{appid}]]></AppId><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    request = urllib.request.Request(f"{args.url}?{query}", data=body.encode(), method="POST",
                                     headers={"Content-Type": "text/xml"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, text = response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        status, text = err.code, err.read().decode()
    print(f"{args.kind} (CreateTime {create_time}) -> HTTP {status}: {text}")
    return 0 if (status == 200) == (args.kind != "tampered") else 1


if __name__ == "__main__":
    sys.exit(main())
