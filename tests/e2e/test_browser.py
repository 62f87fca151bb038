"""The upload page in a real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright).

No skipping: scripts/test.sh installs chromium; without it these tests fail and say so.
"""
import base64
import os
from pathlib import Path

import pytest

from tests.support.pictures import UPLOAD_LIMIT, draw, encode

pytestmark = pytest.mark.e2e

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic"]
SCREENSHOTS = Path(os.environ.get("TMPDIR", "/tmp"))
SEVEN = encode(draw(), ".png")


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package "
                    "(scripts/test.sh does) or set CHROMIUM=/path/to/chromium")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, models_server):
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    problems = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(models_server.url + "/")
    yield page
    context.close()
    assert problems == [], "the page logged errors (a CSP violation shows up here too)"


def classified(page, action):
    """Do `action`, wait for its answer to be shown, return the label on the page."""
    with page.expect_response(lambda r: ":classify" in r.url) as response:
        action()
    assert response.value.status == 200
    # The script marks the result busy before each request and idle once it is drawn.
    # (Selectors, not wait_for_function: the page's CSP rightly forbids eval.)
    page.wait_for_selector('#result[aria-busy="false"]', state="attached")
    return page.text_content("#label")


def test_uploading_a_picture_shows_the_label_both_pictures_and_the_bar_chart(page):
    label = classified(page, lambda: page.set_input_files(
        "#image", files=[{"name": "seven.png", "mimeType": "image/png", "buffer": SEVEN}]))
    assert label == "7"
    assert page.is_visible("#result")
    assert page.locator("#topk li").count() == 5
    assert float(page.get_attribute("#topk li:first-child rect", "width")) > 90
    assert page.get_attribute("#upload-img", "src").startswith("blob:")
    assert page.get_attribute("#seen-img", "src").startswith("data:image/png;base64,")
    assert page.evaluate("document.getElementById('seen-img').naturalWidth") == 28
    page.screenshot(path=str(SCREENSHOTS / "upload-page-upload.png"), full_page=True)


def stroke(page, points):
    box = page.locator("#pad").bounding_box()
    scale = box["width"] / 280
    page.mouse.move(box["x"] + points[0][0] * scale, box["y"] + points[0][1] * scale)
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(box["x"] + x * scale, box["y"] + y * scale, steps=4)
    page.mouse.up()


def test_drawing_a_digit_on_the_canvas_gets_a_prediction(page):
    import math
    ring = [(140 + 55 * math.sin(t / 20 * 2 * math.pi), 140 - 95 * math.cos(t / 20 * 2 * math.pi))
            for t in range(21)]
    assert classified(page, lambda: stroke(page, ring)) == "0"
    page.click("#clear")
    first = classified(page, lambda: stroke(page, [(70, 50), (210, 50)]))   # the 7's bar …
    assert first                                                              # (any answer)
    assert classified(page, lambda: stroke(page, [(210, 50), (120, 240)])) == "7"  # … its leg
    page.screenshot(path=str(SCREENSHOTS / "upload-page-drawing.png"), full_page=True)


def test_dropping_a_file_on_the_drop_zone_classifies_it(page):
    encoded = base64.b64encode(SEVEN).decode()
    transfer = page.evaluate_handle("""(b64) => {
        const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        const transfer = new DataTransfer();
        transfer.items.add(new File([bytes], "seven.png", { type: "image/png" }));
        return transfer; }""", encoded)
    assert classified(page, lambda: page.dispatch_event("#drop", "drop",
                                                        {"dataTransfer": transfer})) == "7"


def test_an_oversized_file_is_refused_before_uploading(page):
    big = SEVEN + b"\0" * UPLOAD_LIMIT
    page.set_input_files("#image", files=[{"name": "big.png", "mimeType": "image/png",
                                           "buffer": big}])
    assert "too large" in page.text_content("#error") and page.is_visible("#error")


def test_the_controls_are_reachable_with_the_keyboard(page):
    reached = []
    for _ in range(12):
        page.keyboard.press("Tab")
        reached.append(page.evaluate("document.activeElement.id"))
    assert {"model", "version", "image", "send", "classify-drawing", "clear"} <= set(reached)


def test_without_javascript_the_form_posts_and_the_result_page_comes_back(browser, models_server):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(models_server.url + "/")
    assert not page.is_visible("#pad")                    # drawing needs the script
    page.set_input_files("#image", files=[{"name": "seven.png", "mimeType": "image/png",
                                           "buffer": SEVEN}])
    with page.expect_navigation():
        page.click("#send")
    assert page.text_content("#label") == "7" and page.locator("#topk li").count() == 5
    page.screenshot(path=str(SCREENSHOTS / "upload-page-nojs.png"), full_page=True)
    page.set_input_files("#image", files=[{"name": "big.png", "mimeType": "image/png",
                                           "buffer": SEVEN + b"\0" * UPLOAD_LIMIT}])
    with page.expect_navigation() as navigation:
        page.click("#send")
    assert navigation.value.status == 413 and "too large" in page.text_content("#error")
    context.close()


# Every element's right edge, the page's scroll width, and what is visible of the file inputs.
LAYOUT = """() => {
    const width = document.documentElement.clientWidth;
    const wide = [...document.querySelectorAll("body *")].filter((element) => {
        const box = element.getBoundingClientRect();
        return box.width > 1 && (box.right > width + 0.5 || box.left < -0.5);
    }).map((element) => element.tagName + "#" + element.id + "." + element.className);
    const shown = (id) => { const box = document.getElementById(id).getBoundingClientRect();
                            return box.width > 1 && box.height > 1; };
    return {scroll: document.documentElement.scrollWidth, width, wide,
            input: shown("image"), drop: shown("drop")};
}"""


@pytest.mark.parametrize("javascript", [True, False], ids=["script", "no script"])
def test_at_phone_width_nothing_is_wider_than_the_screen_and_one_file_control_shows(
        browser, models_server, javascript):
    context = browser.new_context(viewport={"width": 390, "height": 844},
                                  java_script_enabled=javascript, is_mobile=True)
    page = context.new_page()
    page.goto(models_server.url + "/")
    page.set_input_files("#image", files=[{"name": "seven.png", "mimeType": "image/png",
                                           "buffer": SEVEN}])
    if javascript:
        page.wait_for_selector('#result[aria-busy="false"]', state="attached")
    else:
        with page.expect_navigation():
            page.click("#send")
    assert page.text_content("#label") == "7"   # the result card, bars and all, is laid out
    layout = page.evaluate(LAYOUT)
    page.screenshot(path=str(SCREENSHOTS / f"upload-page-phone-{javascript}.png"), full_page=True)
    context.close()
    assert layout["wide"] == [] and layout["scroll"] <= layout["width"] == 390, layout
    # The drop zone with the script, the native input without it: never both.
    assert (layout["drop"], layout["input"]) == (javascript, not javascript)


def test_the_page_says_what_the_model_knows_and_where_its_labels_come_from(page):
    knows = page.text_content("#knows")
    assert knows == ("digits knows 10 labels: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 "
                     "(from digits/1/assets.extra/labels.txt).")
    assert "letter" not in page.text_content("#draw-help")
    assert "what digits knows" in page.text_content("#draw-help")
