// The GOV.UK timeout-warning pattern (WCAG 2.2.1 Timing adjustable). Shortly before an idle session would end, a
// modal dialog says when, counts down, and offers "Stay signed in" (which starts the idle time again) or
// "Sign out". Screen readers hear the warning when it opens and the time left each minute (then at 30 and 10
// seconds), not every second. Escape counts as "Stay signed in". Before warning, and again when time is up, the
// script asks the portal how long is really left (without keeping the session alive), since work in another tab
// also keeps the session going. When time is up it goes to the "You have been signed out" page.

const dialog = document.getElementById("timeout-warning");

function describe(seconds) {
  if (seconds >= 60) {
    const minutes = Math.ceil(seconds / 60);
    return minutes === 1 ? "1 minute" : `${minutes} minutes`;
  }
  return seconds === 1 ? "1 second" : `${seconds} seconds`;
}

function start(dialog) {
  const countdown = dialog.querySelector(".portal-timeout-dialog__countdown");
  const spoken = dialog.querySelector(".portal-timeout-dialog__spoken");
  const announce = dialog.querySelector("#timeout-warning-announce");
  const heading = dialog.querySelector("#timeout-warning-heading");
  const stay = dialog.querySelector("#timeout-warning-stay");
  const warnSeconds = Number(dialog.dataset.warnSeconds);
  let endsAt = Date.now() + Number(dialog.dataset.secondsLeft) * 1000;
  let timer = null;
  let ticker = null;
  let lastSpoken = null;
  let returnFocus = null;

  const secondsLeft = () => Math.max(0, Math.round((endsAt - Date.now()) / 1000));

  async function askServer() {
    // null when the session has ended (the portal then answers with a redirect to sign in, or an error)
    try {
      const response = await fetch(dialog.dataset.timeLeftUrl, {
        headers: { Accept: "application/json" }, redirect: "manual", credentials: "same-origin",
      });
      if (!response.ok) return null;
      const body = await response.json();
      return body.seconds_left > 0 ? body.seconds_left : null;
    } catch (error) {
      return null;
    }
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(check, Math.max(0, (secondsLeft() - warnSeconds) * 1000));
  }

  async function check() {
    const left = await askServer();
    if (left === null) return signedOut();
    endsAt = Date.now() + left * 1000;
    if (left > warnSeconds + 5) {
      if (dialog.open) close();
      return schedule();
    }
    if (!dialog.open) return open();
    // Already warning, and the portal says a little time is left after all (this page's clock ran ahead of
    // it): count on from the portal's figure and ask again when that runs out.
    clearInterval(ticker);
    ticker = setInterval(tick, 1000);
  }

  function speak(seconds, force) {
    const moment = seconds >= 60 ? Math.ceil(seconds / 60) * 60 : seconds;
    const due = force || (seconds >= 60 ? moment !== lastSpoken : [30, 10].includes(seconds));
    if (due) {
      lastSpoken = moment;
      announce.textContent = `We will sign you out in ${describe(seconds)}.`;
    }
  }

  function tick() {
    const seconds = secondsLeft();
    countdown.textContent = describe(seconds);
    spoken.textContent = describe(seconds);
    speak(seconds, false);
    if (seconds <= 0) {
      clearInterval(ticker);
      check();
    }
  }

  function open() {
    returnFocus = document.activeElement;
    lastSpoken = null;
    dialog.showModal();
    heading.focus();
    const seconds = secondsLeft();
    countdown.textContent = describe(seconds);
    spoken.textContent = describe(seconds);
    speak(seconds, true);
    clearInterval(ticker);
    ticker = setInterval(tick, 1000);
  }

  function close() {
    clearInterval(ticker);
    announce.textContent = "";
    dialog.close();
    if (returnFocus && typeof returnFocus.focus === "function") returnFocus.focus();
  }

  function signedOut() {
    clearInterval(ticker);
    clearTimeout(timer);
    const here = window.location.pathname + window.location.search;
    window.location.assign(`${dialog.dataset.signedOutUrl}?next=${encodeURIComponent(here)}`);
  }

  async function staySignedIn() {
    try {
      const response = await fetch(stay.action, {
        method: "POST", body: new FormData(stay), headers: { Accept: "application/json" },
        redirect: "manual", credentials: "same-origin",
      });
      if (!response.ok) return signedOut();
      const body = await response.json();
      endsAt = Date.now() + body.seconds_left * 1000;
    } catch (error) {
      return signedOut();
    }
    close();
    schedule();
  }

  stay.addEventListener("submit", (event) => {
    event.preventDefault();
    staySignedIn();
  });
  dialog.addEventListener("cancel", (event) => {
    event.preventDefault(); // Escape: stay signed in, as the pattern says
    staySignedIn();
  });
  schedule();
}

if (dialog && typeof dialog.showModal === "function") {
  start(dialog);
}
