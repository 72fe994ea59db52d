// Refreshes the cells marked data-live="KEY" every few seconds from the JSON at the
// <main data-live-url>: {"cells": {KEY: [text, tone]}}. Without JavaScript the page shows
// the same cells as of its loading.
"use strict";
(function () {
  const main = document.querySelector("main[data-live-url]");
  if (!main) return;
  const status = document.getElementById("live-status");
  async function refresh() {
    try {
      const response = await fetch(main.dataset.liveUrl, {cache: "no-store",
        headers: {Accept: "application/json"}});
      if (response.redirected) throw new Error("your session ended; reload the page to log in");
      if (!response.ok) throw new Error("the service answered " + response.status);
      const cells = (await response.json()).cells;
      for (const [key, [text, tone]] of Object.entries(cells)) {
        for (const cell of document.querySelectorAll('[data-live="' + key + '"]')) {
          cell.textContent = text;
          cell.dataset.tone = tone;
        }
      }
      if (status) status.textContent = "Updated at " + new Date().toLocaleTimeString() + ".";
    } catch (error) {
      if (status) status.textContent = "Not updated: " + error.message + ".";
    }
  }
  setInterval(refresh, {{ refresh_seconds }} * 1000);
})();
