// The page of fastsam-track's web server: the stream, clicks that prompt objects, the objects
// with their states, the source's status, pausing, and (several sources) a switcher.
"use strict";
const address = new URLSearchParams(location.search);
const token = address.get("token");
const img = document.getElementById("stream");
const view = document.getElementById("view");
const status = document.getElementById("status");
const list = document.getElementById("objects");
const streamStatus = document.getElementById("stream-status");
const switcher = document.getElementById("sources");
const adder = document.getElementById("add-source");
const bar = document.getElementById("statusbar");
const pauseButton = document.getElementById("pause");
const RETRY_MS = 2000;
const ENDED = ["finished", "failed", "stopped"];
let stateShown = null;  // the text of the shown source's state, while the stream status says it
let manage = false;  // sources come and go (a cluster's cameras): the list is kept up to date, with add and remove
let current = Number(address.get("source") || 0);  // the source shown (the server refuses the page for a bad one)
let paused = null;  // while paused: {frame: the index of the frame shown, picture: its object URL}

// A path of the server with the token and the source (none for source 0, the default), and more parameters.
function url(path, source = current, more = {}) {
  const query = new URLSearchParams();
  if (token) query.set("token", token);
  if (source) query.set("source", source);
  for (const [name, value] of Object.entries(more)) query.set(name, value);
  const text = query.toString();
  return text ? path + "?" + text : path;
}
// Chromium keeps a playing stream open after its src changes, until the new one answers: the src goes first,
// so that the old stream gives its viewer slot back before the new one asks for one.
function openStream(more = {}) {
  img.removeAttribute("src");
  img.src = url("stream.mjpg", current, more);
}
if (url("stream.mjpg") !== "stream.mjpg") openStream();

// The stream failed (all viewer slots taken, or the server gone): say why, and try again.
let retries = 0, retry = null;
img.addEventListener("error", async () => {
  if (paused) return;  // the paused picture is not the stream
  const source = current;
  let why = "the stream is not available";
  try {
    const response = await fetch(url("stream.mjpg", source));
    if (response.headers.get("Content-Type") === "application/json") why = (await response.json()).error;
    else response.body.cancel();  // a slot was free after all: give it back at once
  } catch (error) {
    why = "the server is not answering";
  }
  if (source !== current || paused) return;  // switched or paused meanwhile: another story
  streamStatus.textContent = why + "; retrying every " + RETRY_MS / 1000 + " s";
  delete streamStatus.dataset.state;
  stateShown = null;
  clearTimeout(retry);
  retry = setTimeout(() => {
    retries += 1;
    if (!paused) openStream({retry: retries});
  }, RETRY_MS);
});
// The image's data-source: the source whose frames it shows, once its stream has given one.
function loaded() {
  if (!paused && stateShown === null) streamStatus.textContent = "";
  img.dataset.source = current;
}
img.addEventListener("load", loaded);
if (img.complete && img.naturalWidth) loaded();  // the first frame came before this script ran

// The server's answer, or null when it refused (its reason shown, if about the source shown).
async function post(path, body, source = current) {
  try {
    const response = await fetch(url(path, source), {
      method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
    const reply = await response.json();
    if (source === current) status.textContent = response.ok ? "" : reply.error;
    return response.ok ? reply : null;
  } catch (error) {
    status.textContent = "the server is not answering";
    return null;
  }
}

// Pause: the newest frame stays on screen (the run goes on), and clicks are prompts of that frame.
async function pause() {
  if (paused) return;
  const source = current;
  let response;
  try {
    response = await fetch(url("frame.jpg", source));
  } catch (error) {
    status.textContent = "the server is not answering";
    return;
  }
  if (!response.ok || source !== current) {
    if (source === current) status.textContent = (await response.json()).error;
    return;
  }
  const picture = URL.createObjectURL(await response.blob());
  paused = {frame: Number(response.headers.get("X-Frame-Index")), picture: picture};
  clearTimeout(retry);
  img.removeAttribute("src");  // the stream's viewer slot goes back
  img.src = picture;
  img.dataset.frame = paused.frame;
  view.classList.add("paused");
  document.getElementById("paused-mark").hidden = false;
  pauseButton.textContent = "resume";
  pauseButton.setAttribute("aria-pressed", "true");
}
function resume() {
  if (!paused) return;
  URL.revokeObjectURL(paused.picture);
  paused = null;
  delete img.dataset.frame;
  view.classList.remove("paused");
  document.getElementById("paused-mark").hidden = true;
  pauseButton.textContent = "pause";
  pauseButton.setAttribute("aria-pressed", "false");
  if (current !== null) openStream();
}
pauseButton.addEventListener("click", () => (paused ? resume() : pause()));

// Displayed pixels to source frame pixels.
function framePoint(event) {
  const rect = img.getBoundingClientRect();
  const x = (event.clientX - rect.left) * img.naturalWidth / img.clientWidth;
  const y = (event.clientY - rect.top) * img.naturalHeight / img.clientHeight;
  return [Math.min(Math.max(x, 0), img.naturalWidth), Math.min(Math.max(y, 0), img.naturalHeight)];
}

// A click goes to the source whose frame was pressed on; on a paused view, to the frame shown.
let press = null;
img.addEventListener("contextmenu", (event) => event.preventDefault());
img.addEventListener("mousedown", (event) => {
  event.preventDefault();
  if (!img.naturalWidth || img.dataset.source !== String(current)) return;  // no frame of this source yet
  const at = framePoint(event);
  const frame = paused && paused.frame >= 0 ? {frame: paused.frame} : {};  // -1: a source that does not say
  press = {button: event.button, clientX: event.clientX, clientY: event.clientY, at: at, source: current, frame};
});
window.addEventListener("mouseup", (event) => {
  if (!press || event.button !== press.button) return;
  const [x, y] = press.at, [x2, y2] = framePoint(event);
  const dragged = Math.hypot(event.clientX - press.clientX, event.clientY - press.clientY) > 5;
  if (press.button === 0 && dragged) {
    const box = [Math.min(x, x2), Math.min(y, y2), Math.max(x, x2), Math.max(y, y2)];
    post("prompt", {kind: "box", box: box, ...press.frame}, press.source);
  } else if (press.button === 0 || press.button === 2) {
    post("prompt", {kind: "point", x: x, y: y, label: press.button === 0 ? 1 : 0, ...press.frame}, press.source);
  }
  press = null;
});
document.getElementById("clear").addEventListener("click", () => post("clear", {}));

// One object: a swatch of the colour its mask is drawn with, its id, box and state, a remove button.
function listItem(object, key) {
  const source = current;
  const item = document.createElement("li");
  item.dataset.object = object.id;
  item.dataset.key = key;
  item.className = object.lost ? "lost" : "";
  const swatch = document.createElement("span");
  swatch.className = "swatch";
  swatch.style.backgroundColor = object.color;
  const state = document.createElement("span");
  state.className = "state";
  const label = object.state || (object.lost ? "lost" : "");
  state.dataset.state = label;
  state.textContent = label;
  const remove = document.createElement("button");
  remove.type = "button";
  remove.textContent = "remove";
  remove.addEventListener("click", () => post("remove", {object: object.id}, source));
  const box = document.createElement("span");
  box.className = "box";
  item.append(swatch, "object " + object.id + " ", box, state, remove);
  return item;
}

// The list is changed in place: an entry stays the same element while its object is, so a click on it lands.
function showObjects(objects) {
  const items = objects.map((object) => {
    const key = object.id + " " + object.lost + " " + object.state + " " + object.color;
    let item = list.querySelector(`li[data-object="${object.id}"]`);
    if (!item || item.dataset.key !== key) item = listItem(object, key);
    item.querySelector(".box").textContent = "[" + object.box.map(Math.round).join(", ") + "]";
    return item;
  });
  if (items.length !== list.children.length || items.some((item, i) => list.children[i] !== item)) {
    list.replaceChildren(...items);
  }
}

let noticeShown = null;  // the number of the newest notice seen; those from before the page opened are not shown
async function poll() {
  const source = current;
  if (source === null) {  // no source to show
    setTimeout(poll, 500);
    return;
  }
  try {
    const response = await fetch(url("objects", source));
    const reply = await response.json();
    if (source !== current) {
      // switched while asking: the answer is about the source no longer shown
    } else if (response.ok) {
      showObjects(reply.objects);
      const number = reply.notice ? reply.notice.number : 0;
      if (noticeShown !== null && number > noticeShown) status.textContent = reply.notice.text;
      noticeShown = number;
    } else if (response.status !== 404) {  // 404: a source that takes no prompts
      status.textContent = reply.error;
    }
  } catch (error) {
    status.textContent = "the server is not answering";
  }
  setTimeout(poll, 500);
}
poll();

// The banner: why no new frames come (the source ended, failed or is reconnecting), while none come.
function showState(name, state, note) {
  const why = ENDED.includes(state) || state === "reconnecting";
  if (why) {
    const text = {finished: "ended: no more frames", stopped: "was stopped", reconnecting: "is reconnecting"}[state];
    streamStatus.textContent = stateShown = name + " " + (note ? state + ": " + note : text || state);
    streamStatus.dataset.state = state;
  } else if (stateShown && streamStatus.textContent === stateShown) {
    streamStatus.textContent = "";
    delete streamStatus.dataset.state;
    stateShown = null;
  }
}

function field(name, text, shown = true) {
  const element = bar.querySelector(`[data-field="${name}"]`);
  if (element.textContent !== text) element.textContent = text;
  element.hidden = !shown;
  return element;
}

// The status bar: the source's name and state, rate, frame age, dropped frames and keyframes.
async function watchStatus() {
  const source = current;
  try {
    const response = await fetch(url("status", source));
    const reply = await response.json();
    if (response.ok && source === current) {
      field("name", reply.name);
      field("state", reply.state).dataset.state = reply.state;
      field("fps", reply.fps.toFixed(1) + " fps");
      field("age", "age " + Math.round(reply.age_ms) + " ms (p95 " + Math.round(reply.age_p95_ms) + ")");
      field("dropped", reply.dropped + " dropped");
      const share = reply.keyframe_share;
      field("keyframes", share === null ? "" : Math.round(share * 100) + "% keyframes", share !== null);
      field("frame", paused ? "paused on frame " + paused.frame : "frame " + reply.frame);
      bar.dataset.state = reply.state;
      showState(reply.name, reply.state, reply.note);
    }
  } catch (error) {  // the server has gone: the run ended, or was stopped
    if (source === current) showState("the page's server", "stopped", "not answering (the run may have ended)");
  }
  setTimeout(watchStatus, 1000);
}
watchStatus();

// Several sources: a button each; the one pressed shows its stream and objects, and takes the clicks.
function show(source) {
  if (source === current) return;
  resume();
  current = source;
  press = noticeShown = stateShown = null;
  delete img.dataset.source;
  clearTimeout(retry);
  retries = 0;
  list.replaceChildren();
  status.textContent = streamStatus.textContent = "";
  for (const button of switcher.querySelectorAll("button[data-source]")) {
    button.setAttribute("aria-pressed", button.dataset.source == source);
  }
  if (source === null) {  // nothing left to show
    img.removeAttribute("src");
    return;
  }
  openStream();
  const page = new URLSearchParams(location.search);
  if (source) page.set("source", source); else page.delete("source");
  history.replaceState(null, "", page.toString() ? "?" + page : location.pathname);  // a reload stays on this source
}

// A source's entry: its button; with manage, in a group with its state and a remove button.
function sourceEntry(source) {
  const button = document.createElement("button");
  button.type = "button";
  button.dataset.source = source.number;
  button.setAttribute("aria-pressed", source.number === current);
  button.addEventListener("click", () => show(source.number));
  if (!manage) {
    button.textContent = source.name || "source " + source.number;
    return button;
  }
  const state = document.createElement("span");
  state.className = "state";
  button.append(source.name, state);
  const remove = document.createElement("button");
  remove.type = "button";
  remove.className = "remove-source";
  remove.textContent = "remove";
  remove.addEventListener("click", async () => {
    remove.disabled = true;
    if (await post("sources/remove", {}, source.number)) await listSources();
    remove.disabled = false;
  });
  const entry = document.createElement("span");
  entry.className = "entry";
  entry.dataset.entry = source.number;
  entry.append(button, remove);
  return entry;
}

// Whether the list could be read; the switcher is changed in place, so that a press on it lands.
async function listSources() {
  let reply;
  try {
    const response = await fetch(url("sources"));
    reply = await response.json();
    if (!response.ok) throw new Error(reply.error);
  } catch (error) {
    return false;
  }
  manage = reply.manage === true;
  const entries = reply.sources.map((source) => {
    let entry = manage ? switcher.querySelector(`.entry[data-entry="${source.number}"]`) : null;
    if (!entry) entry = sourceEntry(source);
    if (manage) {
      const state = entry.querySelector(".state");
      const text = source.state ? " " + source.state : "";
      if (state.textContent !== text) state.textContent = text;
      entry.dataset.state = source.state || "";
      entry.title = source.note || "";
    }
    return entry;
  });
  if (entries.length !== switcher.children.length || entries.some((entry, i) => switcher.children[i] !== entry)) {
    switcher.replaceChildren(...entries);
  }
  switcher.dataset.count = reply.sources.length;
  switcher.hidden = !manage && reply.sources.length < 2;  // one source: the page as it always was
  adder.hidden = !manage;
  const shown = reply.sources.find((source) => source.number === current);
  if (manage && !shown) {
    show(reply.sources.length ? reply.sources[0].number : null);  // the one shown was removed
  } else if (shown && shown.state) {
    showState(shown.name, shown.state, shown.note);
  }
  return true;
}
async function watchSources() {
  const read = await listSources();
  if (!read || manage) setTimeout(watchSources, RETRY_MS);
}
watchSources();

adder.addEventListener("submit", async (event) => {
  event.preventDefault();
  const fields = Object.fromEntries(["source", "name", "output"].map((name) => [name, adder.elements[name].value]));
  const added = await post("sources/add", fields);
  if (added) {
    adder.reset();
    await listSources();
  }
});

// Keys: Space or P pauses and resumes, C clears, 1-9 show a source, ? shows or hides the help.
document.addEventListener("keydown", (event) => {
  if (event.target.closest("input, textarea, select") || event.ctrlKey || event.metaKey || event.altKey) return;
  const help = document.getElementById("help");
  if (event.key === " " || event.key === "p" || event.key === "P") {
    event.preventDefault();
    if (paused) resume(); else pause();
  } else if (event.key === "c" || event.key === "C") {
    post("clear", {});
  } else if (event.key === "?") {
    help.open = !help.open;
  } else if (/^[1-9]$/.test(event.key)) {
    const button = switcher.querySelectorAll("button[data-source]")[Number(event.key) - 1];
    if (button) button.click();
  }
});
