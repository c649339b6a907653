"""A stand-in for the marketplaces' local print components (development tool: the demo and the browser
tests). A real WebSocket server that speaks the Cainiao-style frames of shared/channels/shipping.md §2
— Cainiao, Douyin and Kuaishou report results with `notifyPrintResult`, PDD with `PrintResultNotify` —
and records every frame it receives. It prints nothing: each document "succeeds", or fails with the
message set in `fail_documents` (waybill number -> message), so a print page can be tried end to end.

Needs the `websockets` package (requirements-dev.txt); `manage.py print_component_emulator` runs it.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

from websockets.sync.server import ServerConnection, serve

logger = logging.getLogger(__name__)

PRINTERS = ["Deli DL-888T (label)", "Office LaserJet"]
RESULT_COMMANDS = {
    "cainiao": "notifyPrintResult",
    "douyin": "notifyPrintResult",
    "kuaishou": "notifyPrintResult",
    "pdd": "PrintResultNotify",
}


class PrintComponentEmulator:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, component: str = "cainiao"):
        self.component = component
        self.result_command = RESULT_COMMANDS[component]
        self.frames: list[dict[str, Any]] = []
        self.fail_documents: dict[str, str] = {}
        self._lock = threading.Lock()
        self._server = serve(self._handle, host, port)
        self.port = self._server.socket.getsockname()[1]
        self.url = f"ws://{host}:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> PrintComponentEmulator:
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def received(self, cmd: str) -> list[dict[str, Any]]:
        with self._lock:
            return [frame for frame in self.frames if frame.get("cmd") == cmd]

    def _handle(self, connection: ServerConnection) -> None:
        for text in connection:
            try:
                frame = json.loads(text)
            except ValueError:
                connection.send(json.dumps({"status": "failed", "msg": "not JSON"}))
                continue
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
                logger.info("print %s on %s: %s", document["documentID"], task.get("printer"), failure or "ok")
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
