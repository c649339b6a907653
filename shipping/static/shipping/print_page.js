// The print page of one print batch (admin): connects to the platform's print component, lists its
// printers, sends one document per label, and posts every result the component reports back to
// OrderHub, which moves the parcel (numbered -> printed) and its orders (ready -> printed).
import { ComponentNotFound, PrintComponent } from "./print_component.js";

const config = JSON.parse(document.getElementById("print-config").textContent);
const strings = config.strings;
const csrfToken = document.querySelector("#print-page input[name=csrfmiddlewaretoken]").value;
const stateBox = document.getElementById("component-state");
const printerSelect = document.getElementById("printer");
const printAllButton = document.getElementById("print-all");
const retryButton = document.getElementById("component-retry");
const labels = new Map(config.labels.map((label) => [label.tracking_number, label]));
let component = null;

function setState(state, text) {
  stateBox.dataset.state = state;
  stateBox.querySelector(".message").textContent = text;
  retryButton.hidden = !["not-found", "closed"].includes(state);
  const ready = state === "ready";
  printerSelect.disabled = !ready;
  printAllButton.disabled = !ready || printableLabels().length === 0;
  for (const button of document.querySelectorAll("button.reprint")) button.disabled = !ready;
}

function row(shipmentId) {
  return document.querySelector(`tr[data-shipment="${shipmentId}"]`);
}

function setRowStatus(shipmentId, status, text) {
  const tr = row(shipmentId);
  if (!tr) return;
  tr.dataset.status = status;
  tr.querySelector(".print-status").textContent = text;
}

function printableLabels() {
  return [...labels.values()].filter((label) => label.printable && row(label.shipment).dataset.state === "numbered");
}

function bumpPrintedCount() {
  const counter = document.getElementById("printed-count");
  const before = Number(counter.dataset.count);
  counter.dataset.count = String(before + 1);
  counter.textContent = counter.textContent.replace(String(before), String(before + 1));
}

async function postJson(url, body) {
  const response = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken, Accept: "application/json" },
    body: JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const detail = data.errors ? Object.values(data.errors).flat().join(" ") : data.detail || response.statusText;
    throw new Error(detail);
  }
  return data;
}

async function recordResult(result) {
  const label = labels.get(result.trackingNumber);
  if (!label) return;
  try {
    const answer = await postJson(config.resultUrl, {
      shipment: label.shipment,
      tracking_number: label.tracking_number,
      ok: result.ok,
      message: result.message || "",
      printer: printerSelect.value || "",
      task_id: String(result.taskID || ""),
    });
    const tr = row(label.shipment);
    if (tr.dataset.state === "numbered" && answer.state === "printed") bumpPrintedCount();
    tr.dataset.state = answer.state;
    tr.querySelector(".shipment-state").textContent = answer.state_label;
    setRowStatus(label.shipment, result.ok ? "printed" : "failed", answer.message);
    const button = tr.querySelector("button.reprint");
    if (button && answer.state !== "numbered") button.textContent = strings.reprint;
    if (answer.batch_state_label) document.getElementById("batch-state").textContent = answer.batch_state_label;
  } catch (error) {
    setRowStatus(label.shipment, "failed", `${strings.notRecorded} ${error.message}`);
  }
}

async function sendLabel(label) {
  setRowStatus(label.shipment, "sent", strings.sent);
  try {
    await component.print(label, printerSelect.value);
  } catch (error) {
    setRowStatus(label.shipment, "failed", error.message);
  }
}

async function connect() {
  setState("connecting", strings.connecting);
  if (component) component.close();
  component = new PrintComponent({
    component: config.component,
    url: config.componentUrl,
    onResult: recordResult,
    onClose: () => setState("closed", strings.closed),
  });
  try {
    await component.connect();
  } catch (error) {
    if (error instanceof ComponentNotFound) {
      setState("not-found", strings.notFound);
      return;
    }
    throw error;
  }
  try {
    const { printers, defaultPrinter } = await component.getPrinters();
    printerSelect.replaceChildren(
      ...printers.map((name) => {
        const option = document.createElement("option");
        option.value = name;
        option.textContent = name;
        option.selected = name === defaultPrinter;
        return option;
      }),
    );
  } catch (error) {
    printerSelect.replaceChildren();
  }
  setState("ready", strings.ready);
}

printAllButton.addEventListener("click", async () => {
  printAllButton.disabled = true;
  for (const label of printableLabels()) await sendLabel(label);
  // labels that failed stay numbered: the packer may send them again once the printer is fixed
  setTimeout(() => {
    printAllButton.disabled = !component.connected || printableLabels().length === 0;
  }, 1500);
});

// A numbered parcel prints with the data it has; a printed one is a reprint, which asks the platform
// for fresh print data first (the payload it issued may have expired).
for (const button of document.querySelectorAll("button.reprint")) {
  button.addEventListener("click", async () => {
    const shipmentId = Number(button.dataset.shipment);
    const current = [...labels.values()].find((label) => label.shipment === shipmentId);
    if (current && row(shipmentId).dataset.state === "numbered") {
      await sendLabel(current);
      return;
    }
    setRowStatus(shipmentId, "sent", strings.refetching);
    try {
      const answer = await postJson(config.reprintUrl.replace("/0/", `/${shipmentId}/`), {});
      labels.set(answer.label.tracking_number, answer.label);
      await sendLabel(answer.label);
    } catch (error) {
      setRowStatus(shipmentId, "failed", error.message);
    }
  });
}

retryButton.addEventListener("click", connect);

if (config.component) {
  connect();
} else {
  setState("unsupported", strings.unsupported);
}
