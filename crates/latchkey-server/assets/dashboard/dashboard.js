// latchkey dashboard: a few enhancements over plain forms and links.
// - A link or button with data-dialog="ID" opens <dialog id="ID"> as a modal
//   (without script, the link goes to a page with the same form).
// - A dialog with data-open is opened as a modal when the page loads (a key
//   shown once, a form refused).
// - A button with data-copy="ID" copies the text of #ID and says so.
// - A dialog with data-confirm-close asks before closing while nothing was copied.
// - Inputs with data-from-fragment take the address's fragment (a token that
//   must never reach the server in a URL), which then leaves the address bar
//   and the history; their field (data-fragment-field) is hidden once filled.
"use strict";

function openDialog(dialog) {
  if (dialog && !dialog.open) dialog.showModal();
}

function guardedClose(dialog) {
  const ask = dialog.querySelector("[data-confirm-step]");
  if (dialog.hasAttribute("data-confirm-close") && dialog.dataset.copied !== "true" && ask && ask.hidden) {
    ask.hidden = false;
    const back = ask.querySelector("button");
    if (back) back.focus();
    return;
  }
  dialog.close();
}

async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch (_) {
      // fall through to the selection
    }
  }
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.className = "offscreen";
  document.body.appendChild(area);
  area.select();
  const ok = document.execCommand("copy");
  area.remove();
  return ok;
}

document.addEventListener("click", async (event) => {
  const target = event.target instanceof Element ? event.target : null;
  if (!target) return;
  const opener = target.closest("[data-dialog]");
  if (opener) {
    const dialog = document.getElementById(opener.getAttribute("data-dialog"));
    if (dialog) {
      event.preventDefault();
      openDialog(dialog);
      const first = dialog.querySelector("input:not([type=hidden]), select, textarea, button");
      if (first) first.focus();
    }
    return;
  }
  const closer = target.closest("[data-close]");
  if (closer) {
    const dialog = closer.closest("dialog");
    if (dialog) {
      event.preventDefault();
      if (closer.hasAttribute("data-force")) dialog.close();
      else guardedClose(dialog);
    }
    return;
  }
  const keepOpen = target.closest("[data-keep-open]");
  if (keepOpen) {
    const step = keepOpen.closest("[data-confirm-step]");
    if (step) step.hidden = true;
    return;
  }
  const copier = target.closest("[data-copy]");
  if (copier) {
    const source = document.getElementById(copier.getAttribute("data-copy"));
    if (!source) return;
    const ok = await copyText(source.textContent.trim());
    const dialog = copier.closest("dialog");
    if (ok && dialog) dialog.dataset.copied = "true";
    const status = document.getElementById(copier.getAttribute("aria-describedby") || "");
    if (status) status.textContent = ok ? "Copied to the clipboard." : "Copy failed: select the text and copy it.";
  }
});

// Escape on a guarded dialog asks first, like its close button.
document.addEventListener("cancel", (event) => {
  const dialog = event.target;
  if (dialog instanceof HTMLDialogElement && dialog.hasAttribute("data-confirm-close")) {
    event.preventDefault();
    guardedClose(dialog);
  }
}, true);

function fillFromFragment() {
  const inputs = document.querySelectorAll("input[data-from-fragment]");
  const fragment = location.hash.slice(1);
  if (inputs.length === 0 || fragment === "") return;
  for (const input of inputs) {
    input.value = fragment;
    const field = input.closest("[data-fragment-field]");
    if (field) field.hidden = true;
  }
  history.replaceState(null, "", location.pathname + location.search);
}

// A dialog with data-open is rendered with the open attribute too, so that
// it shows without script; with script it becomes a modal.
document.addEventListener("DOMContentLoaded", () => {
  fillFromFragment();
  for (const dialog of document.querySelectorAll("dialog[data-open]")) {
    if (dialog.open) dialog.close();
    openDialog(dialog);
  }
});
