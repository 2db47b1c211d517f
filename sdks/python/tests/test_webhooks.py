"""Webhooks against a live latchkey: a real delivery, verified with the
``standardwebhooks`` library (the Standard Webhooks reference
implementation for Python) as a receiver would, before and after the
signing secret is rotated; a tampered body is refused by it."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, Iterator, List, Tuple

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from latchkey import Latchkey
from support import RELAXED, Server

CONFIG = RELAXED + '\n[webhooks]\nallow_private_targets = true\npoll_interval = "50ms"\n'


class Receiver:
    """An HTTP server on loopback that keeps every request's headers and body."""

    def __init__(self) -> None:
        self.got: List[Tuple[Dict[str, str], bytes]] = []
        got = self.got

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                got.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, event_type: str) -> Tuple[Dict[str, str], bytes]:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            for headers, body in self.got:
                if f'"type":"{event_type}"'.encode() in body:
                    return headers, body
            time.sleep(0.05)
        raise AssertionError(f"no {event_type} delivery arrived")


@pytest.fixture()
def setup() -> Iterator[Tuple[Server, Receiver]]:
    receiver = Receiver()
    server = Server.start(config=CONFIG)
    try:
        yield server, receiver
    finally:
        server.stop()
        receiver.server.shutdown()


def test_standardwebhooks_verifies_a_real_delivery_and_both_secrets_after_a_rotation(
    setup: Tuple[Server, Receiver],
) -> None:
    server, receiver = setup
    lk = Latchkey(api_key=server.admin_key, base_url=server.url)
    created = lk.webhooks.create(url=receiver.url, events=["api_key.created"])
    secret = created.secret
    assert secret.startswith("whsec_")
    key = lk.keys.create(name="webhooked")

    headers, body = receiver.wait("api_key.created")
    payload = Webhook(secret).verify(body, headers)
    assert payload["type"] == "api_key.created"
    assert payload["id"] == headers["webhook-id"]
    assert payload["orgId"] == server.org_id
    assert payload["data"]["object"] == {"type": "api_key", "id": key.id}
    assert key.key is not None and key.key.encode() not in body
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace(b"api_key.created", b"api_key.deleted"), headers)

    rotated = lk.webhooks.rotate_secret(created.id)
    lk.webhooks.test(created.id)
    headers, body = receiver.wait("webhook.test")
    assert len(headers["webhook-signature"].split(" ")) == 2
    for whsec in (rotated.secret, secret):
        assert Webhook(whsec).verify(body, headers)["type"] == "webhook.test"
    # The receiver has the event before latchkey has recorded its answer:
    # wait (bounded) for the record.
    deadline = time.monotonic() + 10
    states = {d.state for d in lk.webhooks.deliveries(created.id)}
    while states != {"delivered"} and time.monotonic() < deadline:
        time.sleep(0.05)
        states = {d.state for d in lk.webhooks.deliveries(created.id)}
    assert states == {"delivered"}
