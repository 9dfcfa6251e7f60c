"""The site (scripts/build_site.py): built from a complete real run, refused from anything
else unless it is a preview, every page saying what ran, links that lead somewhere, search."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from browser_kit import CHROMIUM, CHROMIUM_ARGS

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import build_site  # noqa: E402
import nbtools  # noqa: E402

from nbhelpers.claims import HELD, NOT_HELD  # noqa: E402

STEMS = [c[0] for c in nbtools.COURSE]


def fake_run(folder: Path, **changes: dict) -> Path:
    """An executed run of every notebook as ``make run`` leaves it (a real cpu run unless
    ``changes`` says otherwise: ``{stem: {metadata key: value}}``, ``{stem: None}`` = absent)."""
    (folder / "executed").mkdir(parents=True, exist_ok=True)
    for i, stem in enumerate(STEMS):
        if changes.get(stem, {}) is None:
            continue
        nxt = (f"[next]({STEMS[i + 1]}.ipynb) [its heading]({STEMS[i + 1]}.ipynb#Notebook-"
               f"{STEMS[i + 1]})" if i + 1 < len(STEMS) else "")
        nb = nbformat.v4.new_notebook(cells=[
            nbformat.v4.new_markdown_cell(f"# Notebook {stem}\n\nAbout receptive fields "
                                          f"{stem}. {nxt} [guide](../docs/instructor_guide.md) "
                                          f"[code](../nbhelpers/config.py)"),
            nbformat.v4.new_code_cell("print('x')", outputs=[nbformat.v4.new_output(
                "stream", text=f"{HELD} the loss fell (0.7 -> 0.3)\n"
                               f"{NOT_HELD} fine-tuning beat the head — why: few epochs\n")]),
        ])
        nb.metadata["nbhelpers_run"] = {
            "profile": "cpu", "standins": False, "not_recordable": None,
            "started": "2026-12-07T03:00:00+00:00", "seconds": 12.5, "ok": True, "error": None,
            "commit": "abc1234", "runner": "GitHub Actions runner GitHub Actions 1 (Linux, X64, 4 CPUs)",
            **(changes.get(stem) or {})}
        nbformat.write(nb, folder / "executed" / f"{stem}.ipynb")
    return folder


def test_a_complete_real_run_builds_a_site_whose_every_page_says_what_ran(tmp_path):
    out = tmp_path / "site"
    info = build_site.build_site(fake_run(tmp_path / "run"), out)
    assert info["preview"] is False and info["problems"] == []
    assert info["profiles"] == ["cpu"] and info["dates"] == ["2026-12-07"]
    pages = sorted(p.name for p in out.glob("*.html"))
    assert pages == sorted([f"{s}.html" for s in STEMS] + ["index.html", "guide.html", "search.html"])
    for page in out.glob("*.html"):
        text = page.read_text()
        assert "Executed in the <b>cpu</b> profile on 2026-12-07" in text, page.name
        assert "abc1234" in text and "PREVIEW" not in text
    first = (out / f"{STEMS[0]}.html").read_text()
    # links as the site needs them: the next notebook's page, the guide's page, code on GitHub
    assert f'href="{STEMS[1]}.html"' in first and 'href="guide.html"' in first
    assert f'href="{STEMS[1]}.html#Notebook-{STEMS[1]}"' in first  # the anchor kept, and there
    assert "<title>Start here · Fine-tuning a pretrained image model</title>" in first
    assert f'{nbtools.REPO_URL}/blob/{nbtools.REF}/nbhelpers/config.py' in first
    assert nbtools.colab_url(STEMS[0]) in first and nbtools.binder_url(STEMS[0]) in first
    assert "claims checked in the run: 1 held, 1 did not" in first
    assert "Instructor guide" in (out / "guide.html").read_text()
    assert build_site.check_links(out) == []
    assert json.loads((out / "site.json").read_text())["preview"] is False


@pytest.mark.parametrize("change, said", [
    ({"profile": "offline"}, "ran in the offline profile (untrained weights"),
    ({"standins": True}, "a rehearsal (stand-in weights"),
    ({"not_recordable": "budgets cut (NBH_OVERRIDES)"}, "not the profile's own run: budgets cut"),
    ({"ok": False, "error": "ValueError: boom"}, "failed (ValueError: boom)"),
    (None, "not in this run"),
])
def test_a_run_that_is_not_the_courses_results_is_refused_unless_a_preview(tmp_path, change, said):
    run = fake_run(tmp_path / "run", **{"05_adding_a_head": change})
    with pytest.raises(build_site.SiteRefused, match="05_adding_a_head") as refused:
        build_site.build_site(run, tmp_path / "site")
    assert said in str(refused.value)
    assert not (tmp_path / "site").exists()  # nothing half-built
    info = build_site.build_site(run, tmp_path / "site", preview=True)
    assert info["preview"] and any(said in p for p in info["problems"])
    for page in (tmp_path / "site").glob("*.html"):
        assert "PREVIEW: not to be published" in page.read_text(), page.name


def test_notebooks_executed_without_a_record_of_what_ran_them_are_refused(tmp_path):
    run = fake_run(tmp_path / "run")
    nb = nbformat.read(run / "executed" / f"{STEMS[3]}.ipynb", as_version=4)
    del nb.metadata["nbhelpers_run"]
    nbformat.write(nb, run / "executed" / f"{STEMS[3]}.ipynb")
    assert build_site.publish_problems(build_site.read_run(run)) == [
        f"{STEMS[3]}: no record of what ran it (executed before make run kept one, or by "
        "another tool): run `make run` again"]


def test_an_error_output_fails_a_notebook_even_when_its_record_says_ok(tmp_path):
    run = fake_run(tmp_path / "run")
    path = run / "executed" / f"{STEMS[2]}.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells[1].outputs.append(nbformat.v4.new_output("error", ename="KeyError", evalue="'x'",
                                                       traceback=[]))
    nbformat.write(nb, path)
    problems = build_site.publish_problems(build_site.read_run(run))
    assert problems == [f"{STEMS[2]}: failed (cell 1: KeyError: 'x')"]


def test_a_refused_or_broken_build_leaves_the_previous_site_as_it_was(tmp_path, monkeypatch):
    out = tmp_path / "site"
    build_site.build_site(fake_run(tmp_path / "good"), out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    bad = fake_run(tmp_path / "bad", **{STEMS[0]: {"profile": "offline"}})
    with pytest.raises(build_site.SiteRefused):
        build_site.build_site(bad, out)
    monkeypatch.setattr(build_site, "check_links", lambda site: ["index.html: x -> nowhere"])
    with pytest.raises(build_site.SiteRefused, match="broken links"):
        build_site.build_site(tmp_path / "good", out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad", "good", "site"]  # no leftovers


def test_the_link_check_finds_a_missing_page_a_missing_anchor_and_a_wrong_release(tmp_path):
    (tmp_path / "a.html").write_text(
        '<h2 id="here">Here</h2><a href="#here">ok</a><a href="b.html">gone</a>'
        '<a href="a.html#nowhere">no anchor</a>'
        f'<a href="https://github.com/{nbtools.GITHUB_SLUG}/blob/main/x.py">main</a>'
        f'<a href="{nbtools.REPO_URL}">home</a><img src="data:image/png;base64,AAAA">')
    assert build_site.check_links(tmp_path) == [
        "a.html: b.html -> no file b.html in the site",
        "a.html: a.html#nowhere -> a.html has no anchor #nowhere",
        f"a.html: https://github.com/{nbtools.GITHUB_SLUG}/blob/main/x.py does not open "
        f"release {nbtools.REF}"]


def test_the_search_index_has_each_section_with_its_anchor(tmp_path):
    out = tmp_path / "site"
    build_site.build_site(fake_run(tmp_path / "run"), out)
    text = (out / "search-index.js").read_text()
    entries = json.loads(text.removeprefix("window.NBH_SEARCH = ").rstrip().rstrip(";"))
    hit = [e for e in entries if "receptive fields 03_preparing_the_data" in e["text"]]
    assert hit and hit[0]["url"].startswith("03_preparing_the_data.html#")
    anchor = hit[0]["url"].split("#")[1]
    assert f'id="{anchor}"' in (out / "03_preparing_the_data.html").read_text()


def test_claims_lists_every_claim_that_did_not_hold_and_fills_the_job_summary(tmp_path, capsys,
                                                                              monkeypatch):
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    assert build_site.main(["claims", "--from", str(fake_run(tmp_path / "run"))]) == 0
    out = capsys.readouterr().out
    assert f"**Claims that did not hold: {len(STEMS)}**" in out
    assert f"- {STEMS[0]}: fine-tuning beat the head — why: few epochs" in out
    assert summary.read_text().startswith("## Claims checked in the run")


def test_a_real_make_run_of_notebook_00_offline_makes_a_preview_and_is_refused(tmp_path):
    """End to end: run_course records what ran in the executed copy; the offline profile is
    refused for publishing; a preview builds with the banner."""
    env = {**os.environ, "NBH_PROFILE": "offline", "NBH_DATA_DIR": str(tmp_path / "data")}
    env.pop("NBH_OVERRIDES", None)
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "run_course.py"), "--only", "00",
                          "--out", str(tmp_path / "run"), "--no-record"], env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    nb = nbformat.read(tmp_path / "run" / "executed" / "00_start_here.ipynb", as_version=4)
    record = nb.metadata["nbhelpers_run"]
    assert record["profile"] == "offline" and record["ok"] and record["standins"] is False
    from datetime import UTC, datetime

    started = datetime.fromisoformat(record["started"])
    assert 0 <= (datetime.now(UTC) - started).total_seconds() < 600  # this run's start
    assert build_site.main(["build", "--from", str(tmp_path / "run"),
                            "--out", str(tmp_path / "site")]) == 2
    assert build_site.main(["build", "--from", str(tmp_path / "run"),
                            "--out", str(tmp_path / "site"), "--preview"]) == 0
    page = (tmp_path / "site" / "00_start_here.html").read_text()
    assert "PREVIEW: not to be published" in page and "ran in the offline profile" in page
    assert "Executed in the <b>offline</b> profile on" in page


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium or Chrome found (.ci/run installs Chromium)")
def test_the_search_page_finds_a_section_in_a_browser(tmp_path):
    from playwright.sync_api import sync_playwright

    out = tmp_path / "site"
    build_site.build_site(fake_run(tmp_path / "run"), out)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto((out / "search.html").as_uri() + "?q=receptive+03_preparing")
        links = page.locator("#results a")
        links.first.wait_for(timeout=10_000)
        assert links.count() >= 1
        href = links.first.get_attribute("href")
        assert href.startswith("03_preparing_the_data.html#")
        links.first.click()
        page.wait_for_load_state()
        assert page.url.split("/")[-1] == href
        browser.close()


def test_the_guide_shown_is_the_one_the_run_recorded_its_numbers_in(tmp_path):
    guide = tmp_path / "guide.md"
    guide.write_text("# Instructor guide\n\n| profile | stage |\n|---|---|\n| cpu | head |\n")
    build_site.build_site(fake_run(tmp_path / "run"), tmp_path / "site", guide=guide)
    page = (tmp_path / "site" / "guide.html").read_text()
    assert "<td>cpu</td>" in page and "<td>head</td>" in page  # a rendered table


def test_links_are_rewritten_safely():
    stems = {"05_x"}
    rw = build_site.rewrite_links
    assert rw('<a href="05_x.ipynb#A-b">', stems) == '<a href="05_x.html#A-b">'
    assert rw('<a href="../docs/instructor_guide.md#Timing">', stems) == '<a href="guide.html#Timing">'
    assert rw('<a href="HTTPS://example.org/x">', stems) == '<a href="HTTPS://example.org/x">'
    assert rw('<a href="../../outside.md">', stems) == '<a href="../../outside.md">'
    # an escaped quote stays inside the attribute
    out = rw('<a href="a&quot;onmouseover=&quot;x.md">', stems)
    assert out.count('"') == 2 and "onmouseover=&quot;" in out


def test_a_real_run_built_as_a_preview_does_not_call_itself_unreal(tmp_path):
    info = build_site.build_site(fake_run(tmp_path / "run"), tmp_path / "site", preview=True)
    assert info["preview"] and info["problems"] == []
    page = (tmp_path / "site" / "index.html").read_text()
    assert "PREVIEW: not to be published" in page and "not built for publishing" in page
    assert "not a real run of the course" not in page
