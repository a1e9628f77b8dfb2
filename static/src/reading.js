// The reading view: the left and right arrow keys go to the previous and next page, unless the person is typing
// in a form field or holding a modifier key (so the browser's and assistive technology's own keys still work).
const link = (which) => document.querySelector(`a[data-reading-key="${which}"]`);

document.addEventListener("keydown", (event) => {
  if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) return;
  const target = event.target;
  if (target instanceof HTMLElement && target.closest("input, textarea, select, [contenteditable]")) return;
  const next = event.key === "ArrowRight" ? link("next") : event.key === "ArrowLeft" ? link("prev") : null;
  if (next) {
    event.preventDefault();
    window.location.assign(next.href);
  }
});
