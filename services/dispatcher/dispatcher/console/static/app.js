// The review console: Connect's JSON protocol over fetch (unary calls, and WatchJob's server stream in Connect's
// envelopes), the API key in sessionStorage only (never in a URL), hash routes: #/ (jobs) and #/job/<id>.
"use strict";

const KEY = "svd.apiKey";
const PKG = "social_video.v1";
const TERMINAL = new Set(["JOB_STATUS_SUCCEEDED", "JOB_STATUS_FAILED", "JOB_STATUS_CANCELLED"]);
const LATE_STEPS = new Set(["JOB_STEP_SUBMITTING", "JOB_STEP_POLLING", "JOB_STEP_STORING"]);
const REFRESH_MS = 5000;
// A browser opens at most six HTTP/1.1 connections to one origin: a few streams, the rest of the list by its refresh.
const MAX_STREAMS = 4;
let config = { mediaUrl: "" };
let views = new AbortController(); // aborted on every route change: its streams and timers end with the view

const $ = (id) => document.getElementById(id);
const short = (value, prefix) => (value || "").replace(prefix, "").toLowerCase();

class RpcError extends Error {
  constructor(code, message) {
    super(message || code);
    this.code = code;
  }
}

function headers(contentType) {
  return {
    "content-type": contentType,
    "connect-protocol-version": "1",
    authorization: `Bearer ${sessionStorage.getItem(KEY) || ""}`,
  };
}

async function rpc(method, body, base = "") {
  const response = await fetch(`${base}/${PKG}.${method}`, {
    method: "POST",
    headers: headers("application/json"),
    body: JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new RpcError(data.code || `http_${response.status}`, data.message);
  return data;
}

// A server stream: one enveloped request (flags byte, big-endian length, JSON), enveloped answers; the last one is
// flagged end-of-stream (0x02) and carries the error, if any.
async function stream(method, body, onMessage, signal) {
  const payload = new TextEncoder().encode(JSON.stringify(body));
  const request = new Uint8Array(5 + payload.length);
  new DataView(request.buffer).setUint32(1, payload.length);
  request.set(payload, 5);
  const response = await fetch(`/${PKG}.${method}`, {
    method: "POST",
    headers: headers("application/connect+json"),
    body: request,
    signal,
  });
  if (!response.ok) {
    const data = await response.json().catch(() => ({}));
    throw new RpcError(data.code || `http_${response.status}`, data.message);
  }
  const reader = response.body.getReader();
  let buffer = new Uint8Array(0);
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    const joined = new Uint8Array(buffer.length + value.length);
    joined.set(buffer);
    joined.set(value, buffer.length);
    buffer = joined;
    while (buffer.length >= 5) {
      const view = new DataView(buffer.buffer, buffer.byteOffset);
      const flags = view.getUint8(0);
      const length = view.getUint32(1);
      if (buffer.length < 5 + length) break;
      const message = JSON.parse(new TextDecoder().decode(buffer.subarray(5, 5 + length)));
      buffer = buffer.slice(5 + length);
      if (flags & 0x02) {
        if (message.error) throw new RpcError(message.error.code, message.error.message);
        return;
      }
      onMessage(message);
    }
  }
}

// What a badge says: the post's state while a job runs (design pending, then generating the video with a spinner),
// else the job's own.
function badgeStatus(job) {
  const status = short(job.status, "JOB_STATUS_");
  const post = short(job.postStatus, "POST_STATUS_");
  if (status === "running") {
    if (post === "generating_video" || post === "design_pending") return post;
    return LATE_STEPS.has(job.step) ? "generating_video" : "design_pending";
  }
  if (status === "succeeded" && (post === "client_review" || post === "approved")) return post;
  return status || "unknown";
}

function badge(job) {
  const status = badgeStatus(job);
  const element = document.createElement("span");
  element.className = "badge";
  element.dataset.status = status;
  if (status === "generating_video") {
    const spinner = document.createElement("span");
    spinner.className = "spinner";
    spinner.setAttribute("aria-hidden", "true");
    element.append(spinner);
  }
  element.append(status.replace("_", " "));
  return element;
}

function progressOf(job, update) {
  const percent = update ? update.percent || 0 : job.progress || 0;
  const queued = job.status === "JOB_STATUS_QUEUED" && job.queuePosition !== undefined;
  const label =
    (update && update.label) || job.label || short(job.step, "JOB_STEP_") || short(job.status, "JOB_STATUS_");
  return { percent, label: queued && !label.includes("ahead") ? `${label} (${job.queuePosition} ahead)` : label };
}

function when(stamp) {
  return stamp ? new Date(stamp).toLocaleString() : "";
}

// ---- jobs -------------------------------------------------------------------------------------------------------

const watching = new Map(); // job id → true while its stream is open

function renderCard(job, update) {
  let card = document.querySelector(`[data-job-id="${CSS.escape(job.jobId)}"]`);
  if (!card) {
    card = document.createElement("li");
    card.className = "card";
    card.dataset.jobId = job.jobId;
    card.innerHTML =
      '<a></a> <span class="badge-slot"></span><div class="progress-line"><progress max="100"></progress>' +
      '<span class="label"></span></div><div class="meta"></div>';
    const list = $("job-list");
    list.prepend(card);
    $("jobs-empty").hidden = true;
  }
  const link = card.querySelector("a");
  link.href = `#/job/${encodeURIComponent(job.jobId)}`;
  link.textContent = `${job.socialPostId} · run ${job.run || 1}`;
  card.querySelector(".badge-slot").replaceChildren(badge(job));
  const { percent, label } = progressOf(job, update);
  const bar = card.querySelector("progress");
  bar.value = percent;
  bar.setAttribute("aria-label", `Progress of ${job.socialPostId}: ${percent}%`);
  card.querySelector(".label").textContent = `${percent}% · ${label}`;
  card.querySelector(".meta").textContent = `${job.tenantId} · ${when(job.createdAt)}`;
}

function watchCard(job, signal) {
  if (TERMINAL.has(job.status) || watching.has(job.jobId) || watching.size >= MAX_STREAMS) return;
  watching.set(job.jobId, true);
  stream("VideoJobs/WatchJob", { jobId: job.jobId }, (update) => renderCard(update.job, update), signal)
    .catch(() => {})
    .finally(() => watching.delete(job.jobId));
}

async function showJobs(signal) {
  $("job-list").replaceChildren();
  watching.clear();
  const load = async () => {
    const { jobs = [] } = await rpc("VideoJobs/ListJobs", { limit: 50 });
    if (signal.aborted) return;
    for (const job of [...jobs].reverse()) {
      if (!watching.has(job.jobId)) renderCard(job);
      watchCard(job, signal);
    }
    $("jobs-empty").hidden = jobs.length > 0;
  };
  await load();
  // New jobs appear by a light re-list; the status of a running job comes by its stream (of the first few).
  const timer = setInterval(() => load().catch(() => {}), REFRESH_MS);
  signal.addEventListener("abort", () => clearInterval(timer));
}

// ---- one job ----------------------------------------------------------------------------------------------------

function renderJob(job, update) {
  $("job-title").textContent = `${job.socialPostId} · run ${job.run || 1}`;
  $("job-badge").replaceChildren(badge(job));
  const { percent, label } = progressOf(job, update);
  $("job-progress").value = percent;
  $("job-label").textContent = `${percent}% · ${label}`;
  const facts = [
    ["Job id", job.jobId],
    ["Tenant", job.tenantId],
    ["Status", `${short(job.status, "JOB_STATUS_")} (post ${short(job.postStatus, "POST_STATUS_") || "?"})`],
    ["Step", short(job.step, "JOB_STEP_")],
    ["Queue position", job.status === "JOB_STATUS_QUEUED" ? String(job.queuePosition || 0) : "—"],
    ["Trace id", job.traceId || "—"],
    ["Credits", `${job.creditsConsumed || 0} consumed · ${job.creditsReserved || 0} reserved`],
    ["Attempt", String(job.attempt || 1)],
    ["Format", `${short(job.platformFormat, "PLATFORM_FORMAT_")} · ${job.durationSeconds || "?"} s · ${job.aspectRatio || ""}`],
    ["Created", when(job.createdAt)],
  ];
  $("job-facts").replaceChildren(
    ...facts.flatMap(([name, value]) => {
      const dt = document.createElement("dt");
      dt.textContent = name;
      const dd = document.createElement("dd");
      dd.textContent = value;
      if (name === "Trace id") dd.id = "trace-id";
      return [dt, dd];
    }),
  );
  $("job-error").textContent = job.error || "";
  $("cancel").hidden = TERMINAL.has(job.status);
  $("review").hidden = !(job.status === "JOB_STATUS_SUCCEEDED" && job.postStatus === "POST_STATUS_CLIENT_REVIEW");
}

async function renderTimeline(jobId) {
  const { events = [] } = await rpc("VideoJobs/GetJobEvents", { jobId });
  $("timeline").replaceChildren(
    ...events.map((event) => {
      const item = document.createElement("li");
      item.className = event.level || "info";
      const time = document.createElement("time");
      time.dateTime = event.time;
      time.textContent = when(event.time);
      item.append(time, event.message);
      if (event.metadata && Object.keys(event.metadata).length) {
        const details = document.createElement("details");
        const summary = document.createElement("summary");
        summary.textContent = "Details";
        const pre = document.createElement("pre");
        pre.textContent = JSON.stringify(event.metadata, null, 2);
        details.append(summary, pre);
        item.append(details);
      }
      return item;
    }),
  );
}

async function mediaUrl(mediaId) {
  const { url } = await rpc("Media/GetDownloadUrl", { mediaId }, config.mediaUrl);
  return url;
}

// The carousel: this run's video (with its poster), the poster, the still frame it was animated from, then the videos
// of earlier runs that a rejection unlinked from the post (kept, never deleted).
async function renderMedia(job) {
  if (!config.mediaUrl) return;
  const { media = [] } = await rpc(
    "Media/ListMedia",
    { tenantId: job.tenantId, socialPostId: job.socialPostId, includeUnlinked: true, limit: 100 },
    config.mediaUrl,
  );
  const videos = media.filter((m) => m.mediaType === "social_video");
  const posters = new Map(media.filter((m) => m.mediaType === "social_poster").map((m) => [m.parentMediaId, m]));
  const current = videos.filter((m) => m.mediaId === job.mediaId);
  const earlier = videos.filter((m) => m.mediaId !== job.mediaId && !m.socialPostId);
  const slides = [];
  for (const video of [...current, ...earlier]) {
    const unlinked = !video.socialPostId;
    const poster = posters.get(video.mediaId);
    const posterUrl = poster ? await mediaUrl(poster.mediaId) : "";
    const figure = document.createElement("figure");
    const element = document.createElement("video");
    Object.assign(element, { autoplay: true, muted: true, loop: true, playsInline: true, controls: true });
    for (const name of ["autoplay", "muted", "loop", "playsinline"]) element.setAttribute(name, "");
    if (posterUrl) element.poster = posterUrl;
    element.src = await mediaUrl(video.mediaId);
    element.setAttribute("aria-label", unlinked ? "Video of an earlier run (unlinked)" : "Video of this run");
    const caption = document.createElement("figcaption");
    caption.textContent = unlinked
      ? `Earlier run (unlinked after a rejection) · ${when(video.createdAt)}`
      : `This run's video · ${video.width || "?"}×${video.height || "?"} · ${video.durationSeconds || "?"} s`;
    figure.append(element, caption);
    slides.push({ figure, unlinked, kind: "video" });
    if (!unlinked && posterUrl) {
      const still = document.createElement("figure");
      const image = document.createElement("img");
      image.src = posterUrl;
      image.alt = "Poster: the video's first frame";
      const text = document.createElement("figcaption");
      text.textContent = "Poster (first frame)";
      still.append(image, text);
      slides.push({ figure: still, unlinked: false, kind: "poster" });
    }
  }
  if (job.stillKey) {
    const { url } = await rpc("VideoJobs/GetStillUrl", { jobId: job.jobId });
    const still = document.createElement("figure");
    const image = document.createElement("img");
    image.src = url;
    image.alt = "Still frame: the design this run's video was animated from";
    const text = document.createElement("figcaption");
    text.textContent = "Still frame (the design)";
    still.append(image, text);
    slides.splice(current.length ? 2 : 0, 0, { figure: still, unlinked: false, kind: "still" });
  }
  $("slides").replaceChildren(
    ...slides.map(({ figure, unlinked, kind }, index) => {
      const item = document.createElement("li");
      item.className = "slide";
      item.dataset.unlinked = String(unlinked);
      item.dataset.kind = kind;
      item.setAttribute("aria-roledescription", "slide");
      item.setAttribute("aria-label", `${index + 1} of ${slides.length}`);
      item.append(figure);
      return item;
    }),
  );
  $("media-empty").hidden = slides.length > 0;
  $("carousel").hidden = slides.length === 0;
  showSlide(0);
}

let slideIndex = 0;
function showSlide(index) {
  const items = $("slides").children;
  if (!items.length) return;
  slideIndex = (index + items.length) % items.length;
  const slides = $("slides");
  slides.scrollTo({ left: items[slideIndex].offsetLeft - slides.offsetLeft, behavior: "smooth" });
  $("slide-status").textContent = `${slideIndex + 1} of ${items.length}`;
}

async function showJob(jobId, signal) {
  $("timeline").replaceChildren();
  $("slides").replaceChildren();
  $("review-status").textContent = "";
  let { job } = await rpc("VideoJobs/GetJob", { jobId });
  renderJob(job);
  await Promise.all([renderTimeline(jobId), renderMedia(job).catch((e) => ($("media-empty").textContent = e.message))]);
  if (TERMINAL.has(job.status)) return;
  let last = "";
  await stream(
    "VideoJobs/WatchJob",
    { jobId },
    (update) => {
      job = update.job;
      renderJob(job, update);
      const seen = `${update.step}|${update.label}|${update.percent}`;
      if (seen !== last) renderTimeline(jobId).catch(() => {});
      last = seen;
    },
    signal,
  ).catch(() => {});
  if (signal.aborted) return;
  ({ job } = await rpc("VideoJobs/GetJob", { jobId }));
  renderJob(job);
  await Promise.all([renderTimeline(jobId), renderMedia(job)]);
}

async function review(decision) {
  const jobId = decodeURIComponent(location.hash.split("/")[2] || "");
  const form = $("review-form");
  const reviewer = form.querySelector('input[name="reviewer"]:checked').value;
  const status = $("review-status");
  status.textContent = "Sending…";
  const body = {
    jobId,
    decision,
    reviewer,
    feedback: $("feedback").value,
    reviewedBy: $("reviewed-by").value,
    requestId: crypto.randomUUID(),
  };
  try {
    const { subject } = await rpc("Posts/ReviewVideo", body);
    status.textContent = `Sent (${subject}).`;
    if (decision === "REVIEW_DECISION_REJECT") await followNewRun(jobId);
    else setTimeout(() => route(), 1500);
  } catch (error) {
    status.textContent = `Not sent: ${error.message}`;
  }
}

// After a rejection the dispatcher starts the post's next run: open it once it exists.
async function followNewRun(jobId) {
  const { job } = await rpc("VideoJobs/GetJob", { jobId });
  const signal = views.signal;
  for (let tries = 0; tries < 120 && !signal.aborted; tries++) {
    const { jobs = [] } = await rpc("VideoJobs/ListJobs", { tenantId: job.tenantId, socialPostId: job.socialPostId });
    const next = jobs.find((each) => (each.run || 1) > (job.run || 1));
    if (next) {
      location.hash = `#/job/${encodeURIComponent(next.jobId)}`;
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

// ---- routing ----------------------------------------------------------------------------------------------------

function show(section) {
  for (const id of ["sign-in", "jobs", "job"]) $(id).hidden = id !== section;
  $("sign-out").hidden = section === "sign-in";
}

async function route() {
  views.abort();
  views = new AbortController();
  const signal = views.signal;
  if (!sessionStorage.getItem(KEY)) {
    show("sign-in");
    $("who").textContent = "";
    $("api-key").focus();
    return;
  }
  const [, page, id] = location.hash.split("/");
  try {
    if (page === "job" && id) {
      show("job");
      await showJob(decodeURIComponent(id), signal);
    } else {
      show("jobs");
      await showJobs(signal);
    }
  } catch (error) {
    if (error.code === "unauthenticated") {
      sessionStorage.removeItem(KEY);
      $("sign-in-error").textContent = "That API key was not accepted.";
      return route();
    }
    if (!signal.aborted) $(page === "job" ? "job-error" : "jobs-empty").textContent = error.message;
    if (page !== "job") $("jobs-empty").hidden = false;
  }
}

async function start() {
  config = await fetch("/config.json").then((r) => r.json()).catch(() => config);
  $("sign-in-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    sessionStorage.setItem(KEY, $("api-key").value.trim());
    $("api-key").value = "";
    $("sign-in-error").textContent = "";
    try {
      await rpc("VideoJobs/ListJobs", { limit: 1 });
      $("who").textContent = "Signed in";
    } catch (error) {
      sessionStorage.removeItem(KEY);
      $("sign-in-error").textContent =
        error.code === "unauthenticated" ? "That API key was not accepted." : error.message;
      return;
    }
    location.hash = "#/";
    route();
  });
  $("sign-out").addEventListener("click", () => {
    sessionStorage.removeItem(KEY);
    location.hash = "#/";
    route();
  });
  $("review-form").addEventListener("submit", (event) => {
    event.preventDefault();
    review(event.submitter ? event.submitter.value : "REVIEW_DECISION_APPROVE");
  });
  $("cancel").addEventListener("click", async () => {
    const jobId = decodeURIComponent(location.hash.split("/")[2] || "");
    if (!confirm("Cancel this job? Its credits are released.")) return;
    try {
      await rpc("VideoJobs/CancelJob", { jobId, reason: "cancelled from the console" });
    } catch (error) {
      $("job-error").textContent = error.message;
    }
    route();
  });
  $("prev").addEventListener("click", () => showSlide(slideIndex - 1));
  $("next").addEventListener("click", () => showSlide(slideIndex + 1));
  $("slides").addEventListener("keydown", (event) => {
    if (event.key === "ArrowLeft") showSlide(slideIndex - 1);
    if (event.key === "ArrowRight") showSlide(slideIndex + 1);
  });
  window.addEventListener("hashchange", route);
  if (sessionStorage.getItem(KEY)) $("who").textContent = "Signed in";
  route();
}

start();
