"""A fake Cainiao print component for browser tests: a real WebSocket server on a free local port that
speaks the component's frames (shared/channels/shipping.md §2; PDD's component speaks the same with
another result command) and records every frame it receives.

It answers `getPrinters` with two printers, acknowledges `print` and then pushes the print result
for each document — "success", or "failed" for the waybill numbers listed in `fail_documents`.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from websockets.sync.server import ServerConnection, serve

PRINTERS = ["Deli DL-888T (label)", "Office LaserJet"]


class FakeCainiaoComponent:
    """`result_command`: "notifyPrintResult" (Cainiao, Douyin, Kuaishou) or "PrintResultNotify" (PDD)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, result_command: str = "notifyPrintResult"):
        self.result_command = result_command
        self.frames: list[dict[str, Any]] = []
        self.fail_documents: dict[str, str] = {}  # waybill number -> failure message
        self._lock = threading.Lock()
        self._server = serve(self._handle, host, port)
        self.port = self._server.socket.getsockname()[1]
        self.url = f"ws://{host}:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> FakeCainiaoComponent:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)

    def received(self, cmd: str) -> list[dict[str, Any]]:
        with self._lock:
            return [frame for frame in self.frames if frame.get("cmd") == cmd]

    def _handle(self, connection: ServerConnection) -> None:
        for text in connection:
            frame = json.loads(text)
            with self._lock:
                self.frames.append(frame)
            for answer in self._answers(frame):
                connection.send(json.dumps(answer, ensure_ascii=False))

    def _answers(self, frame: dict[str, Any]) -> list[dict[str, Any]]:
        header = {"cmd": frame.get("cmd"), "requestID": frame.get("requestID")}
        if frame.get("version") != "1.0":
            return [{**header, "status": "failed", "msg": "unsupported version"}]
        if frame["cmd"] == "getPrinters":
            return [
                {
                    **header,
                    "status": "success",
                    "defaultPrinter": PRINTERS[0],
                    "printers": [{"name": name} for name in PRINTERS],
                }
            ]
        if frame["cmd"] == "print":
            task = frame["task"]
            statuses = []
            for document in task["documents"]:
                failure = self.fail_documents.get(document["documentID"])
                statuses.append(
                    {
                        "documentID": document["documentID"],
                        "status": "failed" if failure else "success",
                        "msg": failure or "",
                        "printer": task.get("printer") or PRINTERS[0],
                    }
                )
            failed = any(s["status"] == "failed" for s in statuses)
            return [
                {**header, "taskID": task["taskID"], "status": "success"},
                {
                    "cmd": self.result_command,
                    "taskID": task["taskID"],
                    "taskStatus": "failed" if failed else "printed",
                    "printStatus": statuses,
                },
            ]
        return [{**header, "status": "failed", "msg": f"unknown cmd {frame.get('cmd')}"}]
