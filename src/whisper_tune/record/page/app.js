// The recording page of `whisper-tune record`. Plain JavaScript, no dependencies: it talks to
// the local server's /api routes (see server.py) and records raw PCM through an AudioWorklet.
// The server re-checks and resamples every take; the checks here only warn early.

const $ = (id) => document.getElementById(id);

const KIND_LABELS = {
  alone: "the word alone",
  short: "short phrase",
  sentence: "sentence",
  heldout: "new sentence (validation)",
  user: "your sentence",
};

const page = {
  prompts: [],
  limits: null,
  current: -1,
  take: null, // {blob, url, problems, warnings} of the last recording, not yet accepted
  mic: null, // {context, stream}
  recording: null, // {chunks: Float32Array[], loudestDb, peak} while recording
  saving: false,
  finished: false,
};

// ---- levels: the same measures as takes.py ---------------------------------------------

function rmsDb(samples, start = 0, end = samples.length) {
  let sum = 0;
  for (let i = start; i < end; i++) sum += samples[i] * samples[i];
  const n = Math.max(1, end - start);
  return sum > 0 ? 10 * Math.log10(sum / n) : -Infinity;
}

function frameLevels(samples, rate, frameSeconds) {
  const frame = Math.max(1, Math.round(frameSeconds * rate));
  const levels = [];
  for (let start = 0; start < samples.length; start += frame) {
    levels.push(rmsDb(samples, start, Math.min(samples.length, start + frame)));
  }
  return levels;
}

function analyse(samples, rate, limits) {
  const problems = [];
  const warnings = [];
  const duration = samples.length / rate;
  const levels = frameLevels(samples, rate, limits.frame_seconds);
  const loudest = levels.length ? Math.max(...levels) : -Infinity;
  if (duration < limits.min_seconds) problems.push(`Too short (${duration.toFixed(2)} s): hold the recording a little longer.`);
  if (duration > limits.max_seconds) problems.push(`Too long (${duration.toFixed(1)} s): keep takes under ${limits.max_seconds} s.`);
  if (loudest < limits.silence_db) {
    problems.push("No speech heard: check that the right microphone is selected and not muted.");
    return { duration, problems, warnings };
  }
  let clipped = 0;
  for (const s of samples) if (Math.abs(s) >= limits.clip_level) clipped++;
  if (clipped / samples.length > limits.clip_share) problems.push("Clipped: the take is too loud. Lower the microphone gain or move back a little.");
  const edge = Math.max(1, Math.round(limits.edge_seconds / limits.frame_seconds));
  if (levels.length >= 2 * edge) {
    const threshold = loudest - limits.edge_margin_db;
    if (Math.max(...levels.slice(0, edge)) > threshold) warnings.push("Speech may be cut off at the start: wait a moment after starting before you speak.");
    if (Math.max(...levels.slice(-edge)) > threshold) warnings.push("Speech may be cut off at the end: finish the words before you stop.");
  }
  return { duration, problems, warnings };
}

function encodeWav(samples, rate) {
  const bytes = new DataView(new ArrayBuffer(44 + samples.length * 2));
  const text = (offset, s) => [...s].forEach((c, i) => bytes.setUint8(offset + i, c.charCodeAt(0)));
  text(0, "RIFF");
  bytes.setUint32(4, 36 + samples.length * 2, true);
  text(8, "WAVE");
  text(12, "fmt ");
  bytes.setUint32(16, 16, true); // fmt chunk size
  bytes.setUint16(20, 1, true); // PCM
  bytes.setUint16(22, 1, true); // mono
  bytes.setUint32(24, rate, true);
  bytes.setUint32(28, rate * 2, true); // bytes per second
  bytes.setUint16(32, 2, true); // bytes per frame
  bytes.setUint16(34, 16, true); // bits per sample
  text(36, "data");
  bytes.setUint32(40, samples.length * 2, true);
  samples.forEach((s, i) => bytes.setInt16(44 + i * 2, Math.max(-1, Math.min(1, s)) * 0x7fff, true));
  return new Blob([bytes], { type: "audio/wav" });
}

// ---- microphone -------------------------------------------------------------------------

async function openMicrophone() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia || !window.AudioWorkletNode) {
    throw micError("This browser cannot record here. Open the page in a current Chrome, Edge or Firefox at the address the terminal shows.");
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false },
    });
  } catch (error) {
    if (error.name === "NotAllowedError" || error.name === "SecurityError") {
      throw micError("The browser refused the microphone. Allow microphone access for this page (the icon at the left of the address bar), then reload. Nothing recorded so far is lost.");
    }
    if (error.name === "NotFoundError" || error.name === "OverconstrainedError") {
      throw micError("No microphone found. Connect one (or enable it in the system settings), then reload.");
    }
    throw micError(`The microphone could not be opened (${error.name}: ${error.message}). Close other programs that use it, then reload.`);
  }
  const context = new AudioContext();
  await context.audioWorklet.addModule("/static/capture-worklet.js");
  const capture = new AudioWorkletNode(context, "capture");
  const mute = context.createGain();
  mute.gain.value = 0; // the worklet must reach the destination to run; nobody should hear it
  context.createMediaStreamSource(stream).connect(capture).connect(mute).connect(context.destination);
  capture.port.onmessage = (event) => onSamples(event.data);
  return { context, stream };
}

function micError(text) {
  const error = new Error(text);
  error.isMicError = true;
  return error;
}

function onSamples(block) {
  const peak = block.reduce((m, s) => Math.max(m, Math.abs(s)), 0);
  const db = rmsDb(block);
  showLevel(db, peak);
  const rec = page.recording;
  if (!rec) return;
  rec.chunks.push(block);
  rec.frames += block.length;
  rec.loudestDb = Math.max(rec.loudestDb, db);
  if (peak >= page.limits.clip_level) rec.clipped = true;
  const seconds = rec.frames / page.mic.context.sampleRate;
  const live = [];
  if (rec.clipped) live.push("Clipping! Speak a little softer or move back from the microphone.");
  if (seconds > 1.5 && rec.loudestDb < page.limits.silence_db) live.push("No sound from the microphone: is it muted?");
  showWarnings(live, "warning");
  setStatus(`Recording... ${seconds.toFixed(1)} s. Press space to stop.`);
}

function showLevel(db, peak) {
  const fill = $("meter-fill");
  const width = Math.max(0, Math.min(1, (db + 60) / 60));
  fill.style.width = `${(width * 100).toFixed(1)}%`;
  fill.classList.toggle("clip", page.limits !== null && peak >= page.limits.clip_level);
}

// ---- recording a take -------------------------------------------------------------------

async function toggleRecording() {
  if (page.saving || page.finished || page.current < 0) return;
  if (!page.mic) return;
  if (page.recording) return stopRecording();
  await page.mic.context.resume(); // a key press is the user gesture audio needs
  discardTake();
  page.recording = { chunks: [], frames: 0, loudestDb: -Infinity, clipped: false };
  setState("recording");
  showWarnings([]);
  hideMessage();
  setStatus("Recording... press space to stop.");
}

function stopRecording() {
  const rec = page.recording;
  page.recording = null;
  const samples = new Float32Array(rec.frames);
  let offset = 0;
  for (const chunk of rec.chunks) {
    samples.set(chunk, offset);
    offset += chunk.length;
  }
  const rate = page.mic.context.sampleRate;
  const verdict = analyse(samples, rate, page.limits);
  const blob = encodeWav(samples, rate);
  page.take = { blob, url: URL.createObjectURL(blob), ...verdict };
  showWarnings(verdict.problems, "problem");
  appendWarnings(verdict.warnings, "warning");
  setStatus(`Take of ${verdict.duration.toFixed(1)} s. Enter keeps it, p plays it, space records again.`);
  setState("review");
  render();
}

function discardTake() {
  if (page.take) URL.revokeObjectURL(page.take.url);
  page.take = null;
}

async function acceptTake() {
  const prompt = page.prompts[page.current];
  if (!page.take || page.saving || page.recording || !prompt) return;
  page.saving = true;
  setState("saving");
  setStatus("Saving...");
  render();
  try {
    const response = await fetch(`/api/takes/${encodeURIComponent(prompt.id)}`, {
      method: "POST",
      headers: { "Content-Type": "audio/wav" },
      body: page.take.blob,
    });
    const result = await response.json();
    if (!response.ok) {
      showMessage(`Not saved: ${result.error}`, "error");
      setStatus("Press space to record it again.");
      setState("review");
      return;
    }
    page.prompts[page.current] = result.prompt;
    discardTake();
    showWarnings([]);
    const allDone = page.prompts.every((p) => p.recorded);
    const saved = `Saved "${prompt.text}" (${result.duration.toFixed(1)} s).${allDone ? " Every prompt is recorded: press Finish." : ""}`;
    showMessage(result.warnings.length ? `${saved} Note: ${result.warnings.join(" ")}` : saved, result.warnings.length ? "warning" : "ok");
    goTo(nextPending(page.current));
  } catch (error) {
    showMessage(`Not saved: the whisper-tune server does not answer (${error.message}). Is the command still running?`, "error");
    setState("review");
  } finally {
    page.saving = false;
    render();
  }
}

function skip() {
  if (page.recording || page.saving || page.finished) return;
  const next = nextPending(page.current);
  if (next === page.current) {
    showMessage("No other prompt is waiting to be recorded.", "warning");
    return;
  }
  hideMessage();
  goTo(next);
}

function play() {
  if (page.recording) return;
  const prompt = page.prompts[page.current];
  const url = page.take ? page.take.url : prompt && prompt.recorded ? `/api/takes/${encodeURIComponent(prompt.id)}` : null;
  if (!url) return;
  const player = $("player");
  player.src = url;
  player.play().catch((error) => showMessage(`Cannot play the take (${error.message}).`, "error"));
}

async function finish() {
  if (page.recording || page.saving) return;
  try {
    await fetch("/api/finish", { method: "POST" });
  } catch (error) {
    // The server may already be gone (Ctrl-C): the page is finished either way.
  }
  page.finished = true;
  if (page.mic) page.mic.stream.getTracks().forEach((track) => track.stop());
  const done = page.prompts.filter((p) => p.recorded).length;
  setState("finished");
  setStatus(`Finished: ${done} of ${page.prompts.length} prompts recorded. The terminal shows the next commands; you can close this tab.`);
  render();
}

// ---- navigation and drawing -------------------------------------------------------------

function nextPending(from) {
  const n = page.prompts.length;
  for (let step = 1; step <= n; step++) {
    const index = (from + step + n) % n;
    if (!page.prompts[index].recorded) return index;
  }
  return from;
}

function goTo(index) {
  discardTake();
  page.current = index;
  showWarnings([]);
  const prompt = page.prompts[index];
  if (!prompt) return render();
  setState(page.mic ? "ready" : page.state);
  if (prompt.recorded) setStatus("Recorded already. Press space to record it again, p to hear the saved take.");
  else setStatus("Press space to start recording.");
  render();
}

function render() {
  const prompts = page.prompts;
  const done = prompts.filter((p) => p.recorded).length;
  $("overall-text").textContent = `${done} of ${prompts.length} recorded, ${prompts.length - done} to go`;
  $("overall-bar").max = Math.max(1, prompts.length);
  $("overall-bar").value = done;
  const prompt = prompts[page.current];
  const text = $("prompt-text");
  if (prompt) {
    text.dataset.id = prompt.id;
    text.replaceChildren(...highlighted(prompt.text, prompt.term));
    $("prompt-kind").textContent = KIND_LABELS[prompt.kind] || prompt.kind;
    $("prompt-state").textContent = prompt.recorded ? "recorded" : "to record";
    $("prompt-state").className = `tag ${prompt.recorded ? "done" : ""}`;
    $("prompt-position").textContent = `prompt ${page.current + 1} of ${prompts.length}`;
  } else {
    text.textContent = "Nothing to record.";
  }
  const idle = !page.recording && !page.saving && !page.finished;
  $("record").disabled = !page.mic || page.saving || page.finished || !prompt;
  $("record").textContent = "";
  $("record").append(page.recording ? "Stop " : "Record ", kbd("space"));
  $("play").disabled = !idle || !(page.take || (prompt && prompt.recorded));
  $("accept").disabled = !idle || !page.take;
  $("skip").disabled = !idle;
  $("finish").disabled = page.recording || page.saving || page.finished;
  renderTerms();
}

function kbd(label) {
  const key = document.createElement("kbd");
  key.textContent = label;
  return key;
}

function highlighted(text, term) {
  if (!term) return [document.createTextNode(text)];
  const at = text.toLowerCase().indexOf(term.toLowerCase());
  if (at < 0) return [document.createTextNode(text)];
  const mark = document.createElement("mark");
  mark.textContent = text.slice(at, at + term.length);
  return [document.createTextNode(text.slice(0, at)), mark, document.createTextNode(text.slice(at + term.length))];
}

function renderTerms() {
  const groups = new Map();
  page.prompts.forEach((prompt, index) => {
    const name = prompt.term || "your sentences";
    if (!groups.has(name)) groups.set(name, []);
    groups.get(name).push(index);
  });
  const items = [];
  for (const [name, indexes] of groups) {
    const item = document.createElement("li");
    const done = indexes.filter((i) => page.prompts[i].recorded).length;
    item.className = done === indexes.length ? "complete" : "";
    const label = document.createElement("span");
    label.className = "term";
    label.textContent = name;
    const count = document.createElement("span");
    count.className = "count";
    count.textContent = `${done}/${indexes.length}`;
    const chips = document.createElement("span");
    chips.className = "chips";
    for (const index of indexes) chips.append(chip(index));
    item.append(label, count, chips);
    items.push(item);
  }
  $("term-list").replaceChildren(...items);
}

function chip(index) {
  const prompt = page.prompts[index];
  const button = document.createElement("button");
  button.type = "button";
  button.className = `chip ${prompt.split === "val" ? "val" : ""} ${prompt.recorded ? "done" : ""} ${index === page.current ? "current" : ""}`;
  button.dataset.id = prompt.id;
  button.title = `${KIND_LABELS[prompt.kind] || prompt.kind}: ${prompt.text}`;
  button.textContent = prompt.recorded ? "\u2713" : "\u2022";
  button.setAttribute("aria-label", `${prompt.text} (${prompt.recorded ? "recorded" : "to record"})`);
  button.addEventListener("click", () => {
    button.blur();
    if (page.recording || page.saving || page.finished) return;
    hideMessage();
    goTo(index);
  });
  return button;
}

function setState(state) {
  page.state = state;
  document.body.dataset.state = state;
}

function setStatus(text) {
  $("status").textContent = text;
}

function showWarnings(texts, kind = "warning") {
  $("warnings").replaceChildren();
  appendWarnings(texts, kind);
}

function appendWarnings(texts, kind) {
  for (const text of texts) {
    const item = document.createElement("li");
    item.className = kind;
    item.textContent = text;
    $("warnings").append(item);
  }
}

function showMessage(text, kind) {
  const box = $("message");
  box.textContent = text;
  box.className = `banner ${kind}`;
  box.hidden = false;
}

function hideMessage() {
  $("message").hidden = true;
}

// ---- start ------------------------------------------------------------------------------

function onKey(event) {
  if (event.repeat || event.ctrlKey || event.metaKey || event.altKey) return;
  const actions = { " ": toggleRecording, Enter: acceptTake, s: skip, p: play };
  const action = actions[event.key];
  if (!action) return;
  event.preventDefault(); // space would scroll or press the focused button
  action();
}

function bindControls() {
  const buttons = { record: toggleRecording, play, accept: acceptTake, skip, finish };
  for (const [id, action] of Object.entries(buttons)) {
    $(id).addEventListener("click", (event) => {
      event.currentTarget.blur(); // keep space and enter for the shortcuts
      action();
    });
  }
  document.addEventListener("keydown", onKey);
  // Browsers start audio only after a user gesture: the first click or key wakes the meter.
  for (const gesture of ["pointerdown", "keydown"]) {
    document.addEventListener(gesture, () => page.mic && page.mic.context.resume(), { capture: true });
  }
}

async function start() {
  bindControls();
  const response = await fetch("/api/state");
  const state = await response.json();
  page.prompts = state.prompts;
  page.limits = state.limits;
  $("out-dir").textContent = state.out;
  $("voice").textContent = state.voice;
  const first = page.prompts.findIndex((p) => !p.recorded);
  page.current = first >= 0 ? first : page.prompts.length ? 0 : -1;
  if (first < 0 && page.prompts.length) showMessage("Every prompt is recorded. Re-record any of them, or press Finish.", "ok");
  render();
  try {
    page.mic = await openMicrophone();
    goTo(page.current);
  } catch (error) {
    const box = $("mic-error");
    box.textContent = error.isMicError ? error.message : `The microphone could not be started: ${error.message}`;
    box.hidden = false;
    setState("mic-error");
    setStatus("Recording is not possible until the microphone is available.");
    render();
  }
}

start().catch((error) => {
  showMessage(`The page could not start: ${error.message}. Is whisper-tune record still running?`, "error");
  setState("error");
});
