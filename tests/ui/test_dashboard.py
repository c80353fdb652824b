"""A user's walk through the dashboard in headless Chromium, against a real API and worker: sign in, upload a
digits zip through the page, start a tiny job, watch its progress and loss curve update, embed a file on the
model page, embed the dataset and see its quality report and map. Any console error, page error or failed
request fails the test. Screenshots of each page are saved under the test's output folder (and the job page's
to docs/dashboard.png with UPDATE_DOCS_SCREENSHOT=1)."""

import json
import os
import re
import shutil
import time
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect, sync_playwright

from tests.e2e.conftest import ADMIN_KEY, StackFactory
from tests.support.images import digit_pngs, digits_zip
from tests.ui.browser import CHROMIUM, BrowserProblems

REPO = Path(__file__).resolve().parents[2]
JOB_PARAMS = {"backbone": "tiny_cnn", "epochs": 4, "batch_size": 32}
SLOW_MS = 180_000  # ingest and training on a shared 2-core machine; waits end as soon as the page shows it


def events_route_exists(base_url: str) -> bool:
    """Where the server has no event stream the job page falls back to polling after one expected 404."""
    paths = httpx.get(f"{base_url}/openapi.json").raise_for_status().json()["paths"]
    return "/v1/jobs/{job_id}/events" in paths


def sign_in(page: Page, base_url: str) -> None:
    answer = page.goto(f"{base_url}/ui/")
    assert answer is not None and "script-src 'self'" in answer.headers["content-security-policy"]
    page.fill("#sign-in input[name=key]", ADMIN_KEY)
    page.click("#sign-in button")
    expect(page.locator("#upload")).to_be_visible()


def upload_digits(page: Page, archive: Path) -> None:
    page.fill("#upload input[name=name]", "digits")
    page.fill("#upload input[name=image_size]", "16")
    page.set_input_files("#upload input[name=file]", str(archive))
    page.click("#upload button")
    expect(page.locator("#dataset-detail .thumbs img")).to_have_count(24, timeout=SLOW_MS)
    expect(page.locator("#dataset-detail .thumbs img").first).to_have_js_property("complete", True)


def watch_progress(page: Page) -> list[str]:
    """Every distinct progress line the job page shows until the job ends (the page updates itself)."""
    seen: list[str] = []
    deadline = time.monotonic() + SLOW_MS / 1000
    while time.monotonic() < deadline:
        status = page.text_content("#job-status") or ""
        line = f"{status}: {page.text_content('#job-progress')}"
        if not seen or seen[-1] != line:
            seen.append(line)
        if status in ("succeeded", "failed", "canceled"):
            return seen
        page.wait_for_timeout(100)  # sampling the page, not waiting for the job
    raise AssertionError(f"the job did not end; the page showed {seen}")


# Nothing here tests failover: leases long enough that a busy machine does not hand the job to a new attempt.
RUN_TIMEOUT_MS = 180_000  # embedding 120 digits is seconds of work; the bound is for a machine several-fold slower
CALM_LEASES = {"SELFSUP_LEASE_SECONDS": "60", "SELFSUP_REAPER_INTERVAL_SECONDS": "10"}


def test_dashboard_walkthrough(make_stack: StackFactory, tmp_path: Path) -> None:
    stack = make_stack(**CALM_LEASES)
    base_url = str(stack.client.http.base_url).rstrip("/")
    has_events = events_route_exists(base_url)
    problems = BrowserProblems(
        excused=lambda url, status: status == 404 and url.endswith("/events") and not has_events, secret=ADMIN_KEY
    )
    shots = tmp_path / "screenshots"
    archive = tmp_path / "digits.zip"
    archive.write_bytes(digits_zip(120))
    image = tmp_path / "digit.png"
    image.write_bytes(digit_pngs(1)[0][1])
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        problems.watch(page)
        sign_in(page, base_url)
        upload_digits(page, archive)
        page.screenshot(path=shots / "datasets.png", full_page=True)

        page.fill("#start-job textarea[name=params]", json.dumps(JOB_PARAMS))
        page.click("#start-job button")
        seen = watch_progress(page)
        assert seen[-1].startswith("succeeded"), seen
        running = [line for line in seen if line.startswith("running") and "step 0/" not in line]
        assert len(running) >= 2, f"progress did not move live while running: {seen}"
        curve = page.locator("[data-chart=loss] .scatterlayer path.js-line")
        expect(curve).to_have_attribute("d", re.compile(r"^M[\d.,]+(L[\d.,]+)+$"))
        expect(page.locator("[data-chart=probes] .bars path")).not_to_have_count(0)
        page.screenshot(path=shots / "job.png", full_page=True)

        page.click("a[href='#/jobs']")
        expect(page.locator("#jobs tr[data-job] .status")).to_have_text("succeeded")
        page.screenshot(path=shots / "jobs.png", full_page=True)

        page.go_back()
        page.click("#job-model")
        page.set_input_files("#embed input[name=file]", str(image))
        page.click("#embed button")
        expect(page.locator("#embed-result")).to_contain_text("of dim ")
        page.screenshot(path=shots / "model.png", full_page=True)

        page.click("a[href='#/runs']")
        page.click("#start-run button")  # the one model and its dataset are preselected
        status = page.locator("#runs tr[data-run] .status")
        expect(status).to_have_text("succeeded", timeout=RUN_TIMEOUT_MS)
        page.screenshot(path=shots / "runs.png", full_page=True)
        page.click("#runs tr[data-run] a")
        expect(page.locator("[data-chart=map] .scatterlayer .points path")).not_to_have_count(0)
        expect(page.locator("#quality")).to_contain_text("Likely label errors")
        page.screenshot(path=shots / "run.png", full_page=True)

        page.click("a[href='#/keys']")
        expect(page.locator("#keys tbody tr")).not_to_have_count(0)
        page.screenshot(path=shots / "keys.png", full_page=True)
        browser.close()
    assert problems.problems == []
    if os.environ.get("UPDATE_DOCS_SCREENSHOT") == "1":
        shutil.copy(shots / "job.png", REPO / "docs" / "dashboard.png")
