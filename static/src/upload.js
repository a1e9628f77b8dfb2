// Upload forms: a progress bar per file while the encrypted upload streams (progressive enhancement).
// Without JavaScript the form posts normally. Loaded only on the upload pages, never inline (CSP).
const form = document.querySelector("[data-upload-form]");

function percent(loaded, start, size) {
  if (size === 0) return loaded >= start ? 100 : 0;
  return Math.max(0, Math.min(100, Math.round(((loaded - start) / size) * 100)));
}

function showPage(xhr) {
  // Show the page the server answered with (the list after success, or the form with its errors), as a
  // normal submission would; the request already followed the redirect, so its flash message is in this page.
  const url = xhr.responseURL;
  document.open();
  document.write(xhr.responseText);
  document.close();
  if (url && url !== window.location.href) {
    window.history.replaceState(null, "", url);
  }
}

if (form && window.FormData && window.XMLHttpRequest) {
  form.addEventListener("submit", (event) => {
    const inputs = [...form.querySelectorAll("input[type=file]")];
    const chosen = inputs.filter((input) => input.files.length > 0);
    if (chosen.length === 0) return; // let the server say what is missing
    event.preventDefault();
    const status = form.querySelector("[data-upload-status]");
    const button = form.querySelector("button[type=submit]");
    // Parts are sent in form order, so each file's share of the body follows the previous ones.
    let offset = 0;
    const bars = chosen.map((input) => {
      const bar = input.parentElement.querySelector("[data-upload-progress]");
      // The bar's own text is only a fallback browsers do not show, so the percentage is written beside it
      // (hidden from screen readers, which read the bar's value).
      const shown = input.parentElement.querySelector("[data-upload-percent]");
      const size = input.files[0].size;
      const entry = { bar, shown, start: offset, size, name: input.files[0].name };
      offset += size;
      bar.hidden = false;
      bar.value = 0;
      shown.hidden = false;
      shown.textContent = "0%";
      bar.setAttribute("aria-label", `Upload progress for ${entry.name}`);
      return entry;
    });
    button.disabled = true;
    status.textContent = "Uploading and encrypting…";
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.upload.addEventListener("progress", (progress) => {
      const loaded = progress.loaded * (offset / Math.max(progress.total, 1));
      for (const entry of bars) {
        entry.bar.value = percent(loaded, entry.start, entry.size);
        entry.bar.textContent = `${entry.bar.value}%`;
        entry.shown.textContent = `${entry.bar.value}%`;
      }
    });
    xhr.addEventListener("load", () => showPage(xhr));
    xhr.addEventListener("error", () => {
      button.disabled = false;
      status.textContent = "The upload failed. Check your connection and try again.";
    });
    xhr.send(new FormData(form));
  });
}
