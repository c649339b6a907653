// OrderHub print-component client (vendored, no dependencies, no build step).
//
// A marketplace e-waybill label carries print data encrypted by the platform; only the platform's
// local print component (a program on the packing PC that drives the thermal printer and speaks
// WebSocket JSON on localhost) can render it. This module talks to that component from the packer's
// browser. Protocols: shared/channels/shipping.md §2 — Cainiao is confirmed; PDD, Douyin and Kuaishou
// use Cainiao-like frames; JD's frame shape is unconfirmed, so it is kept to one small class.
//
// One document per print task (documentID = the waybill number), so a reprint can never mix labels.

export const DEFAULT_URLS = Object.freeze({
  cainiao: "ws://localhost:13528",
  pdd: "ws://127.0.0.1:5000",
  jd: "ws://localhost:9113",
  douyin: "ws://localhost:13888",
  kuaishou: "ws://localhost:16888/ks/printer",
});

export class ComponentNotFound extends Error {
  constructor(url) {
    super(`no print component answers at ${url}`);
    this.name = "ComponentNotFound";
    this.url = url;
  }
}

let sequence = 0;
function newRequestId() {
  sequence += 1;
  return `oh-${Date.now().toString(36)}-${sequence}`;
}

// Cainiao and the components that copy its frames: header {cmd, requestID, version: "1.0"}.
class CainiaoProtocol {
  constructor({ resultCommands = ["notifyPrintResult"] } = {}) {
    this.resultCommands = resultCommands;
  }

  getPrinters(requestID) {
    return { cmd: "getPrinters", requestID, version: "1.0" };
  }

  getTaskStatus(requestID, taskIDs) {
    return { cmd: "getTaskStatus", requestID, version: "1.0", taskID: taskIDs };
  }

  print(requestID, label, printer) {
    // First content: the platform's encrypted payload as its e-waybill API returned it
    // (encryptedData/data, signature, templateURL, ver). Second: the merchant's custom area in plain data.
    const contents = [{ ...label.print_data }];
    if (label.template_url && !contents[0].templateURL) contents[0].templateURL = label.template_url;
    if (label.custom_area) {
      contents.push({ templateURL: label.custom_area.template_url, data: label.custom_area.data });
    }
    return {
      cmd: "print",
      requestID,
      version: "1.0",
      task: {
        taskID: requestID,
        preview: false,
        printer: printer || "",
        notifyMode: "allInOne",
        documents: [{ documentID: label.tracking_number, contents }],
      },
    };
  }

  // -> {kind, requestID, ...}: "printers" | "accepted" | "results" | "other"
  parse(message) {
    if (message.cmd === "getPrinters") {
      return {
        kind: "printers",
        requestID: message.requestID,
        ok: message.status !== "failed",
        printers: (message.printers || []).map((p) => (typeof p === "string" ? p : p.name)),
        defaultPrinter: message.defaultPrinter || "",
      };
    }
    if (message.cmd === "print") {
      return {
        kind: "accepted",
        requestID: message.requestID,
        taskID: message.taskID || message.requestID,
        ok: message.status === "success",
        message: message.msg || "",
      };
    }
    if (this.resultCommands.includes(message.cmd)) {
      // "rendered" only means previewed; a printed or failed task is final.
      if (message.taskStatus && !["printed", "failed"].includes(message.taskStatus)) return { kind: "other" };
      return {
        kind: "results",
        taskID: message.taskID,
        results: (message.printStatus || []).map((s) => ({
          documentID: s.documentID,
          ok: s.status === "success",
          message: s.msg || s.detail || "",
        })),
      };
    }
    return { kind: "other" };
  }
}

// JD cloud print (unconfirmed frame shape): {orderType, key, parameters}; the print answer is the result.
class JdProtocol {
  getPrinters(requestID) {
    return { orderType: "GET_Printers", key: requestID };
  }

  print(requestID, label, printer) {
    const data = label.print_data || {};
    return {
      orderType: "PRINT",
      key: requestID,
      parameters: {
        printName: printer || "",
        contents: [
          {
            tempUrl: data.tempUrl || data.templateURL || label.template_url,
            printData: data.printData || data.encryptedData || data.data,
            customTempUrl: label.custom_area ? label.custom_area.template_url : "",
            customData: label.custom_area ? [label.custom_area.data] : [],
          },
        ],
      },
    };
  }

  parse(message) {
    const ok = ["0", "2", 0, 2, "success"].includes(message.code) || message.success === true;
    if (Array.isArray(message.content) || message.orderType === "GET_Printers") {
      return { kind: "printers", requestID: message.key, ok, printers: message.content || [], defaultPrinter: "" };
    }
    if (message.key) {
      return {
        kind: "accepted",
        requestID: message.key,
        taskID: message.key,
        ok,
        message: message.message || "",
        final: true,
      };
    }
    return { kind: "other" };
  }
}

export function protocolFor(component) {
  switch (component) {
    case "cainiao":
    case "douyin":
    case "kuaishou":
      return new CainiaoProtocol();
    case "pdd":
      return new CainiaoProtocol({ resultCommands: ["PrintResultNotify", "notifyPrintResult"] });
    case "jd":
      return new JdProtocol();
    default:
      throw new Error(`no print component protocol for ${component}`);
  }
}

export class PrintComponent {
  // component: cainiao | pdd | jd | douyin | kuaishou; url: the component's WebSocket address.
  constructor({ component, url, timeoutMs = 8000, onResult = null, onClose = null }) {
    this.component = component;
    this.url = url || DEFAULT_URLS[component];
    this.protocol = protocolFor(component);
    this.timeoutMs = timeoutMs;
    this.onResult = onResult; // ({trackingNumber, ok, message, taskID}) for every label result
    this.onClose = onClose;
    this.socket = null;
    this.pending = new Map(); // requestID -> {resolve, reject, timer}
    this.tasks = new Map(); // taskID -> tracking number (one document per task)
  }

  connect() {
    return new Promise((resolve, reject) => {
      let opened = false;
      let socket;
      try {
        socket = new WebSocket(this.url);
      } catch (error) {
        reject(new ComponentNotFound(this.url));
        return;
      }
      const timer = setTimeout(() => {
        if (!opened) {
          socket.close();
          reject(new ComponentNotFound(this.url));
        }
      }, this.timeoutMs);
      socket.addEventListener("open", () => {
        opened = true;
        clearTimeout(timer);
        this.socket = socket;
        resolve(this);
      });
      socket.addEventListener("error", () => {
        if (!opened) {
          clearTimeout(timer);
          reject(new ComponentNotFound(this.url));
        }
      });
      socket.addEventListener("close", () => {
        this.socket = null;
        for (const [, waiter] of this.pending) {
          clearTimeout(waiter.timer);
          waiter.reject(new Error("print component closed the connection"));
        }
        this.pending.clear();
        if (opened && this.onClose) this.onClose();
      });
      socket.addEventListener("message", (event) => this._receive(event.data));
    });
  }

  get connected() {
    return this.socket !== null && this.socket.readyState === WebSocket.OPEN;
  }

  close() {
    if (this.socket) this.socket.close();
  }

  _send(requestID, frame) {
    if (!this.connected) return Promise.reject(new ComponentNotFound(this.url));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(requestID);
        reject(new Error("the print component did not answer in time"));
      }, this.timeoutMs);
      this.pending.set(requestID, { resolve, reject, timer });
      this.socket.send(JSON.stringify(frame));
    });
  }

  _receive(text) {
    let message;
    try {
      message = JSON.parse(text);
    } catch (error) {
      return; // not ours
    }
    const parsed = this.protocol.parse(message);
    if (parsed.kind === "results") {
      const fallback = this.tasks.get(parsed.taskID);
      for (const result of parsed.results) {
        this._report({ trackingNumber: result.documentID || fallback, ok: result.ok, message: result.message, taskID: parsed.taskID });
      }
      this.tasks.delete(parsed.taskID);
      return;
    }
    if (parsed.kind === "other") return;
    const waiter = this.pending.get(parsed.requestID);
    if (!waiter) return;
    this.pending.delete(parsed.requestID);
    clearTimeout(waiter.timer);
    waiter.resolve(parsed);
  }

  _report(result) {
    if (this.onResult && result.trackingNumber) this.onResult(result);
  }

  async getPrinters() {
    const requestID = newRequestId();
    const answer = await this._send(requestID, this.protocol.getPrinters(requestID));
    return { printers: answer.printers, defaultPrinter: answer.defaultPrinter };
  }

  // Send one label; resolves with the task id once the component accepted it. The printed/failed
  // result arrives later through onResult (immediately for protocols whose answer is final).
  async print(label, printer) {
    const requestID = newRequestId();
    this.tasks.set(requestID, label.tracking_number);
    const answer = await this._send(requestID, this.protocol.print(requestID, label, printer));
    if (answer.taskID !== requestID) this.tasks.set(answer.taskID, label.tracking_number);
    if (!answer.ok || answer.final) {
      this.tasks.delete(answer.taskID);
      this._report({ trackingNumber: label.tracking_number, ok: answer.ok, message: answer.message, taskID: answer.taskID });
    }
    return answer.taskID;
  }
}
