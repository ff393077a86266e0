"""`autonn ui` opened in a real headless Chromium: the study's runs table, a trial and its metric."""

import os
import shutil
import sys
from pathlib import Path

import optuna
import pytest
from click.testing import CliRunner
from servers import free_port, running

from autonn.cli import main
from autonn.search.storage import open_storage

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parent.parent / "test-artifacts"
needs_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).exists() and not os.environ.get("CI"),
    reason="Debian's chromium is not installed (CI installs it and never skips this)")


@needs_chromium
@pytest.mark.slow
def test_ui_shows_the_study_and_a_trial_with_its_metric(tmp_path):
    from playwright.sync_api import expect, sync_playwright

    result = CliRunner().invoke(main, ["search", "--dataset", "iris", "--n-trials", "4", "--epochs",
                                       "4", "--pruner", "none", "--study", "iris-ui"])
    assert result.exit_code == 0, result.output
    study = optuna.load_study(study_name="iris-ui", storage=open_storage())
    best_first = sorted(study.trials, key=lambda t: (-t.value, t.number))
    port = free_port()
    cmd = [sys.executable, "-m", "autonn", "ui", "--port", str(port), "--study", "iris-ui"]
    with running(cmd, f"http://127.0.0.1:{port}/health", tmp_path) as server:
        # "Starting the MLflow UI on ...", then one line per study with its runs URL (the MLflow
        # server's own log lines may come between)
        lines = [server.stdout.readline()]
        while not lines[-1].startswith("iris-ui: ") and lines[-1] and len(lines) < 50:
            lines.append(server.stdout.readline())
        assert lines[0].startswith(f"Starting the MLflow UI on http://127.0.0.1:{port}")
        study_line = lines[-1]
        assert study_line.startswith("iris-ui: http://127.0.0.1:") and "#/experiments/" in study_line
        runs_url = study_line.split(": ", 1)[1].strip()
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run"])
            page = browser.new_page(viewport={"width": 2400, "height": 1000})  # every column
            page.goto(runs_url)
            expect(page.get_by_text("iris-ui").first).to_be_visible(timeout=60_000)
            ARTIFACTS.mkdir(exist_ok=True)
            # without a click: the machine-learning view, the objective as a column, sorted
            # by it best first (the study's parent run, which has no value, comes last)
            assert "workflowType=machine_learning" in runs_url
            metric_cells = page.locator("[role=gridcell][col-id='metrics.`val_accuracy`']")
            expect(metric_cells.first).to_be_visible(timeout=60_000)
            page.screenshot(path=str(ARTIFACTS / "ui-runs-table.png"))
            # rows as displayed: each cell's row-index ties the pinned name to its metric
            cells = page.locator("[role=gridcell]").evaluate_all(
                "els => els.map(e => [e.closest('[role=row]').getAttribute('row-index'), "
                "e.getAttribute('col-id'), e.innerText])")
            table = {}
            for row, column, text in cells:
                table.setdefault(int(row), {})[column] = text.strip()
            rows = [table[i] for i in sorted(table)]
            trials = [(int(r["attributes.`Run Name`"].split("trial-")[1][:4]),
                       float(r["metrics.`val_accuracy`"]))
                      for r in rows if "trial-" in r.get("attributes.`Run Name`", "")]
            shown = [value for _, value in trials]
            assert len(shown) == 4 and shown == sorted(shown, reverse=True)
            assert shown == pytest.approx([t.value for t in best_first], abs=1e-4)
            # ties may come in either order: each row's trial has the value shown beside it
            assert [study.trials[n].value for n, _ in trials] == pytest.approx(shown, abs=1e-4)
            for column in ("metrics.`train_seconds`", "params.`family`", "params.`n_layers`"):
                assert all(r.get(column, "-") != "-" for r in rows if "trial-" in str(r)), column
            page.get_by_text("trial-0000").first.click(timeout=60_000)
            expect(page.get_by_text("val_accuracy").first).to_be_visible(timeout=60_000)
            page.screenshot(path=str(ARTIFACTS / "ui-trial-run.png"), full_page=True)
            browser.close()


@pytest.mark.slow
def test_ui_says_ready_only_once_it_answers_and_stops_within_seconds():
    import signal
    import subprocess
    import time
    import urllib.request

    result = CliRunner().invoke(main, ["search", "--dataset", "iris", "--n-trials", "1", "--epochs",
                                       "2", "--study", "quick-ui"])
    assert result.exit_code == 0, result.output
    port = free_port()
    ui = subprocess.Popen([sys.executable, "-m", "autonn", "ui", "--port", str(port)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          start_new_session=True)
    try:
        line = ui.stdout.readline()
        while line and "ready" not in line:
            line = ui.stdout.readline()
        assert "ready" in line
        for _ in range(3):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as answer:
                assert answer.status == 200  # "ready" means it answers now, not in 30 s
        start = time.monotonic()
        ui.send_signal(signal.SIGTERM)
        rest, _ = ui.communicate(timeout=60)
        assert time.monotonic() - start < 10
        assert "GET /health" not in rest, rest  # no line in the terminal per HTTP request
    finally:
        if ui.poll() is None:
            os.killpg(ui.pid, signal.SIGKILL)
