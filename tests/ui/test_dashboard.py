"""A user's walk through the dashboard in headless Chromium, against a real API and worker: sign in, upload a
digits zip through the page, start a tiny job, watch its phase, time left, progress and loss curve update and
its summary sentence appear, name the model, embed a file and download an export on its page, embed the
dataset and see its quality report and map, upload a table and see its rows, create and revoke a key, and
cancel a long job from its page. Any
console error, page error or failed request fails the test. Screenshots of each page are saved under the
test's output folder (and the job page's to docs/dashboard.png with UPDATE_DOCS_SCREENSHOT=1)."""

import json
import os
import re
import shutil
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect, sync_playwright

from tests.e2e.conftest import ADMIN_KEY, StackFactory
from tests.support.images import digit_pngs, digits_zip
from tests.support.tables import classification_columns, csv_bytes
from tests.ui.browser import CHROMIUM, BrowserProblems

REPO = Path(__file__).resolve().parents[2]
# Enough steps that an idle machine trains for several event-stream polls (a busy one only takes longer).
JOB_PARAMS = {"backbone": "tiny_cnn", "epochs": 12, "batch_size": 32}
SLOW_MS = 180_000  # ingest and training on a shared 2-core machine; waits end as soon as the page shows it


def events_route_exists(base_url: str) -> bool:
    """Where the server has no event stream the job page falls back to polling after one expected 404."""
    paths = httpx.get(f"{base_url}/openapi.json").raise_for_status().json()["paths"]
    return "/v1/jobs/{job_id}/events" in paths


def sign_in(page: Page, base_url: str, shots: Path) -> None:
    answer = page.goto(f"{base_url}/ui/")
    assert answer is not None and "script-src 'self'" in answer.headers["content-security-policy"]
    expect(page.locator("#nav")).to_be_hidden()
    page.screenshot(path=shots / "sign-in.png", full_page=True)
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


# Every distinct "status: phase: progress" the job page renders, recorded by the page itself as it changes, so
# no update is missed between two looks from the test.
RECORD_JOB_LINES = """() => {
  window.jobLines = [];
  const read = (id) => document.getElementById(id)?.textContent ?? "";
  new MutationObserver(() => {
    const line = `${read("job-status")}: ${read("job-phase")}: ${read("job-progress").trim()}`;
    if (read("job-status") && window.jobLines.at(-1) !== line) window.jobLines.push(line);
  }).observe(document.getElementById("page"), { childList: true, subtree: true, characterData: true });
}"""
ENDED = re.compile(r"^(succeeded|failed|canceled)$")
# quality_summary's plain words for a labeled image dataset (app/jobs/summary.py)
SUMMARY = re.compile(
    r"^kNN \d\.\d\d: (\+\d+\.\d points over|\d+\.\d points below) the random-init encoder, "
    r"(\+\d+\.\d points over raw pixels|\d+\.\d points below raw pixels on these labels); .*RankMe \d+ of \d+"
)


def train_from_page(page: Page) -> list[str]:
    """Start the job from the dataset panel; what the job page showed until the job ended."""
    page.evaluate(RECORD_JOB_LINES)
    page.fill("#start-job textarea[name=params]", json.dumps(JOB_PARAMS))
    page.click("#start-job button")
    expect(page.locator("#job-status")).to_have_text(ENDED, timeout=SLOW_MS)
    return list(page.evaluate("window.jobLines"))


def check_live_progress(seen: list[str]) -> None:
    assert seen[-1].startswith("succeeded: done: "), seen
    training = [line for line in seen if line.startswith("running: training") and "step 0/" not in line]
    assert len(training) >= 2, f"progress did not move live while training: {seen}"
    assert any(re.search(r"training, about \d+ (s|min)", line) for line in training), f"no time left shown: {seen}"


def check_job_outcome(page: Page, base_url: str) -> None:
    """The summary sentence the server wrote for the job, shown in words above its details."""
    job_id = page.url.rsplit("/", 1)[-1]
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    job = httpx.get(f"{base_url}/v1/jobs/{job_id}", headers=headers).raise_for_status().json()
    assert SUMMARY.match(job["summary"]), job["summary"]
    expect(page.locator("#job-summary")).to_have_text(job["summary"])
    expect(page.locator("#job-phase")).to_have_text("done")


def download_export(page: Page) -> None:
    with page.expect_download() as download:
        page.click("#model-export button[data-format=safetensors]")
    assert download.value.suggested_filename.endswith("-safetensors.zip"), download.value.suggested_filename
    expect(page.locator("#model-export")).to_contain_text("Downloaded the safetensors export")


def upload_table(page: Page, table: Path) -> None:
    """A second modality through the same form: its rows show as a table, the label column kept apart."""
    page.click("a[href='#/datasets']")
    page.fill("#upload input[name=name]", "iris")
    page.select_option("#upload select[name=modality]", "tabular")
    page.fill("#upload input[name=label_column]", "label")
    page.set_input_files("#upload input[name=file]", str(table))
    page.click("#upload button")
    rows = page.locator("#dataset-detail .records tbody tr")
    expect(rows).to_have_count(8, timeout=SLOW_MS)
    expect(page.locator("#dataset-detail .records thead")).to_contain_text("sepal_length")
    expect(rows.first.locator("td").last).to_have_text("setosa")


def create_and_revoke_key(page: Page, shots: Path) -> None:
    page.click("a[href='#/keys']")
    expect(page.locator("#keys tbody tr")).not_to_have_count(0)
    page.fill("#new-key input[name=name]", "dashboard-made")
    page.click("#new-key button")
    expect(page.locator("#new-key-secret")).to_contain_text("ssk_")
    made = page.locator("#keys tbody tr", has_text="dashboard-made")
    page.screenshot(path=shots / "keys.png", full_page=True)
    made.get_by_role("button", name="Revoke").click()
    expect(made.locator("td").last).to_have_text("revoked")


def cancel_from_page(page: Page) -> None:
    """A job that would train for hours, started from the dataset panel and stopped by the job page's button."""
    page.click("a[href='#/datasets']")
    page.click("#datasets tr[data-dataset] a >> text=digits")
    page.fill("#start-job textarea[name=params]", json.dumps({**JOB_PARAMS, "epochs": 10_000}))
    page.click("#start-job button")
    expect(page.locator("#job-status")).to_have_text("running", timeout=SLOW_MS)
    page.get_by_role("button", name="Cancel job").click()
    expect(page.locator("#job-status")).to_have_text("canceled", timeout=SLOW_MS)
    expect(page.locator("#job .outcome")).to_have_text("Canceled.")
    expect(page.locator("#job-cancel")).to_have_count(0)


# Nothing here tests failover: leases long enough that a busy machine does not hand the job to a new attempt.
RUN_TIMEOUT_MS = 180_000  # embedding 120 digits is seconds of work; the bound is for a machine several-fold slower
CALM_LEASES = {"SELFSUP_LEASE_SECONDS": "60", "SELFSUP_REAPER_INTERVAL_SECONDS": "10"}
# Progress written and streamed often, so a job of a second or two moves on the page several times.
LIVE_PROGRESS = {"SELFSUP_PROGRESS_INTERVAL_SECONDS": "0.1", "SELFSUP_EVENT_STREAM_POLL_SECONDS": "0.1"}


def test_dashboard_walkthrough(make_stack: StackFactory, tmp_path: Path) -> None:
    stack = make_stack(**CALM_LEASES, **LIVE_PROGRESS)
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
    table = tmp_path / "iris.csv"
    table.write_bytes(csv_bytes(classification_columns("iris")))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        problems.watch(page)
        sign_in(page, base_url, shots)
        upload_digits(page, archive)
        page.screenshot(path=shots / "datasets.png", full_page=True)

        check_live_progress(train_from_page(page))
        check_job_outcome(page, base_url)
        curve = page.locator("[data-chart=loss] .scatterlayer path.js-line")
        expect(curve).to_have_attribute("d", re.compile(r"^M[\d.,]+(L[\d.,]+)+$"))
        expect(page.locator("[data-chart=probes] .bars path")).not_to_have_count(0)
        page.screenshot(path=shots / "job.png", full_page=True)

        page.click("a[href='#/jobs']")
        expect(page.locator("#jobs tr[data-job] .status")).to_have_text("succeeded")
        expect(page.locator("#jobs tr[data-job] .phase")).to_have_text("done")
        page.screenshot(path=shots / "jobs.png", full_page=True)

        page.go_back()
        page.click("#job-model")
        page.fill("#alias input[name=alias]", "digits-demo")
        page.click("#alias button")
        expect(page.locator("#model-aliases li code")).to_have_text("digits-demo")
        page.set_input_files("#embed input[name=file]", str(image))
        page.click("#embed button")
        expect(page.locator("#embed-result")).to_contain_text("of dim ")
        download_export(page)
        page.screenshot(path=shots / "model.png", full_page=True)
        page.click("a[href='#/models']")
        expect(page.locator("#models tr[data-model]")).to_contain_text("digits-demo")
        page.screenshot(path=shots / "models.png", full_page=True)

        page.click("a[href='#/runs']")
        page.click("#start-run button")  # the one model and its dataset are preselected
        status = page.locator("#runs tr[data-run] .status")
        expect(status).to_have_text("succeeded", timeout=RUN_TIMEOUT_MS)
        page.screenshot(path=shots / "runs.png", full_page=True)
        page.click("#runs tr[data-run] a")
        expect(page.locator("[data-chart=map] .scatterlayer .points path")).not_to_have_count(0)
        expect(page.locator("#quality")).to_contain_text("Likely label errors")
        page.screenshot(path=shots / "run.png", full_page=True)

        upload_table(page, table)
        page.screenshot(path=shots / "datasets-table.png", full_page=True)
        create_and_revoke_key(page, shots)
        cancel_from_page(page)
        browser.close()
    assert problems.problems == []
    if os.environ.get("UPDATE_DOCS_SCREENSHOT") == "1":
        shutil.copy(shots / "job.png", REPO / "docs" / "dashboard.png")
