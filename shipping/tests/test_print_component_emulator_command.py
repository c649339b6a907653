"""`manage.py print_component_emulator` (the demo's stand-in print component) answers the Cainiao-style
frames the print page sends: printers, then the print acknowledgement and the per-document result."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from websockets.sync.client import connect


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_stand_in_component_lists_printers_and_reports_each_document_printed():
    port = free_port()
    command = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), "print_component_emulator"]
    process = subprocess.Popen([*command, "--component", "pdd", "--port", str(port)], stdout=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the stand-in component never listened"
                time.sleep(0.2)
        with connect(f"ws://127.0.0.1:{port}") as ws:
            ws.send(json.dumps({"cmd": "getPrinters", "requestID": "r1", "version": "1.0"}))
            printers = json.loads(ws.recv(timeout=5))
            assert printers["requestID"] == "r1" and printers["status"] == "success"
            assert printers["defaultPrinter"] in [p["name"] for p in printers["printers"]]

            task = {"taskID": "t1", "printer": "", "documents": [{"documentID": "YT123", "contents": [{}]}]}
            ws.send(json.dumps({"cmd": "print", "requestID": "r2", "version": "1.0", "task": task}))
            accepted, result = json.loads(ws.recv(timeout=5)), json.loads(ws.recv(timeout=5))
        assert accepted == {"cmd": "print", "requestID": "r2", "taskID": "t1", "status": "success"}
        assert result["cmd"] == "PrintResultNotify" and result["taskStatus"] == "printed"
        assert [(s["documentID"], s["status"]) for s in result["printStatus"]] == [("YT123", "success")]
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert b"listening on ws://127.0.0.1" in process.stdout.read()
