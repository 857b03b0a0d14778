"""The console in a real headless Chromium (Debian's, driven by Playwright): sign in with a tenant key, watch a running
job's badge and progress move without reloading, open it when done and see its video play (autoplay, muted, loop)
beside its poster and still, reject it with feedback and follow the new run (the feedback in its motion prompt, the
old video shown unlinked), cancel that run. Screenshots of the job page at phone and desktop sizes go to
`test-artifacts/console/`.

The browser is the system's `chromium` (`make chromium` installs it as root with apt-get); where it is missing the
test is skipped and says why, except on CI, where a missing browser fails it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from google.protobuf import json_format
from playwright.async_api import Page, async_playwright

from social_video.v1 import common_pb2 as c
from social_video.v1 import jobs_pb2
from tests.dispatcher.support import Simulator, approve, new_post, tenant_client, wait_job
from tests.dispatcher.test_job_api import issue_key

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"
FEEDBACK = "Warmer light on the beans and a slower pan"
# The provider takes this long over the first run, so the page sees it move (on a fast machine a whole run can take
# less than the page's first look).
SLOW_RUN_S = 12
# Samples what every job card shows, ten times a second, into window.__seen (the page is never reloaded: the
# samples of one page are all there is).
RECORDER = """() => {
  window.__seen = [];
  setInterval(() => {
    for (const card of document.querySelectorAll('[data-job-id]')) {
      const badge = card.querySelector('.badge');
      const sample = {
        job: card.dataset.jobId,
        status: badge ? badge.dataset.status : '',
        spinner: !!(badge && badge.querySelector('.spinner')),
        percent: card.querySelector('progress').value,
      };
      const last = window.__seen.filter((s) => s.job === sample.job).at(-1);
      if (!last || last.status !== sample.status || last.percent !== sample.percent) window.__seen.push(sample);
    }
  }, 100);
}"""


CHROMIUM = shutil.which("chromium")
MISSING = "Debian's chromium is not installed here (`make chromium` installs it as root with apt-get)"
# Skipped before the stack starts, saying why; on CI a missing browser fails instead.
pytestmark = pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"), reason=MISSING)


async def screenshots(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for width, height in ((390, 844), (1440, 900)):
        await page.set_viewport_size({"width": width, "height": height})
        await page.evaluate("window.scrollTo(0, 0)")
        await page.wait_for_timeout(500)
        await page.screenshot(path=ARTIFACTS / f"{name}-{width}x{height}.png")


async def test_console_follows_plays_and_rejects_a_video(stack) -> None:
    assert CHROMIUM is not None, f"{MISSING}: CI must run the browser tests"
    executable = CHROMIUM
    sim = Simulator(stack)
    sim.clear()
    # A few tasks: a leftover job of an earlier test on this stack may take the first one.
    sim.fault(slow_seconds=SLOW_RUN_S, slow_count=3)
    async with tenant_client(stack) as (admin, tenant), async_playwright() as playwright:
        _, key = issue_key(stack, "--tenant", tenant)
        browser = await playwright.chromium.launch(executable_path=executable)
        try:
            page = await browser.new_page(viewport={"width": 1440, "height": 900})
            page.on("dialog", lambda dialog: dialog.accept())
            await page.goto(stack.info["console_url"])
            await page.get_by_label("API key").fill(key)
            await page.get_by_label("API key").press("Enter")  # the keyboard is enough
            await page.locator("#jobs").wait_for()
            assert key not in page.url
            assert await page.evaluate("sessionStorage.getItem('svd.apiKey')") == key
            assert await page.evaluate("localStorage.length") == 0
            await page.evaluate(RECORDER)

            post = new_post()
            await approve(admin, tenant, post)
            job = await admin.find_job(tenant, post)
            card = page.locator(f'[data-job-id="{job.job_id}"]')
            await card.wait_for(timeout=30_000)
            await card.locator('.badge[data-status="client_review"]').wait_for(timeout=300_000)
            seen = [s for s in await page.evaluate("window.__seen") if s["job"] == job.job_id]
            percents = [s["percent"] for s in seen]
            assert percents == sorted(percents) and len(set(percents)) >= 3, seen
            generating = [s for s in seen if s["status"] == "generating_video"]
            assert generating and all(s["spinner"] for s in generating), seen
            assert not any(s["spinner"] for s in seen if s["status"] != "generating_video"), seen
            assert await page.evaluate("typeof window.__seen") == "object", "the page was reloaded"

            await card.get_by_role("link").click()
            await page.locator("#job").wait_for()
            video = page.locator('#slides [data-unlinked="false"] video').first
            await video.wait_for(timeout=30_000)
            for attribute in ("autoplay", "muted", "loop", "playsinline", "poster"):
                assert await video.get_attribute(attribute) is not None, attribute
            await page.wait_for_function(
                """() => { const v = document.querySelector('#slides [data-unlinked="false"] video');
                           return v && v.readyState >= 2 && !v.paused && v.currentTime > 0; }""",
                timeout=60_000,
            )
            assert await page.locator("#trace-id").text_content() == job.trace_id
            await page.wait_for_function(
                """() => { const still = document.querySelector('#slides [data-kind="still"] img');
                           return still && still.complete && still.naturalWidth > 0; }""",
                timeout=30_000,
            )
            await screenshots(page, "job")

            await page.get_by_label("Feedback (needed to reject)").fill(FEEDBACK)
            await page.get_by_label("Your name or e-mail").fill("client@brand.example")
            await page.get_by_role("button", name="Reject with feedback").click()
            await page.wait_for_function(f"() => !location.hash.includes({job.job_id!r})", timeout=60_000)
            second_id = page.url.rsplit("/", 1)[1]
            await page.locator("#slides [data-unlinked='true'] video").wait_for(timeout=30_000)
            # The new run's submission to the provider, its motion prompt (in the event's details) with the feedback.
            submitted = page.locator("#timeline li", has_text="submitted to").filter(has_text=FEEDBACK)
            await submitted.wait_for(state="attached", timeout=300_000)
            assert "motion_prompt" in (await submitted.text_content() or "")
            await screenshots(page, "rerun")

            await page.get_by_role("button", name="Cancel job").click()
            second = await wait_job(admin, second_id)
        finally:
            await browser.close()
            sim.clear()

        assert (second.run, second.wake_reason) == (2, c.WAKE_REASON_CLIENT_REJECTED)
        assert second.status == c.JOB_STATUS_CANCELLED
        events = (await admin.jobs.GetJobEvents(jobs_pb2.GetJobEventsRequest(job_id=job.job_id))).events
        reviews = [(e.message, json_format.MessageToDict(e.metadata)) for e in events]
        reviews = [(message, data) for message, data in reviews if data.get("action") == "post.review"]
        assert [(message, data["subject"], data["reviewed_by"]) for message, data in reviews] == [
            (
                f"client rejected the video (client@brand.example): {FEEDBACK}",
                "social.post.client_rejected",
                "client@brand.example",
            )
        ], reviews
