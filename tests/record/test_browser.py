"""The recording page in a real browser: headless Chromium with a fake microphone playing a
speech WAV, driven by Selenium through the system's chromedriver, against the real
`whisper-tune record` command in a subprocess.

Skipped (with the reason) where Chromium, chromedriver or Selenium is missing; `.ci/run`
installs them. WHISPER_TUNE_UPDATE_SCREENSHOT=1 copies the page's screenshot to
docs/images/record-page.png (the one docs/GETTING_STARTED.md shows).
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import whisper_tune
from whisper_tune.audio import load_audio, write_wav
from whisper_tune.cli.main import main
from whisper_tune.record.prompts import build_prompts, load_templates
from whisper_tune.record.takes import frame_levels_db

REPO = Path(__file__).resolve().parents[2]
SCREENSHOT = REPO / "docs" / "images" / "record-page.png"
CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
CHROMEDRIVER = shutil.which("chromedriver")
SPEECH = (
    "kubernetes runs the cluster and kubectl talks to it while postgres keeps the data "
    "and nginx serves the pages to everyone who asks for them all day long"
)
TERMS = ["kubectl", "Grafana"]
PER_TERM = 2
VOICE = "tester"
WAIT_S = 30

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None or CHROMEDRIVER is None,
        reason=(
            "needs Chromium and chromedriver on PATH "
            "(Debian: apt-get install chromium chromium-driver; .ci/run installs them)"
        ),
    ),
]
webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (pip install 'whisper-tune[test]')")


@pytest.fixture(scope="module")
def microphone_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Speech for the fake microphone, at a level that neither clips nor counts as silence."""
    folder = tmp_path_factory.mktemp("mic")
    espeak = shutil.which("espeak-ng")
    jfk = REPO.parent / "shared" / "audio" / "jfk.wav"
    if espeak:
        raw = folder / "espeak.wav"
        subprocess.run([espeak, "-s", "150", "-w", str(raw), SPEECH], check=True, capture_output=True, timeout=60)
        source = raw
    elif jfk.is_file():
        source = jfk
    else:
        pytest.skip("needs espeak-ng (apt-get install espeak-ng) or ../shared/audio/jfk.wav for the fake microphone")
    samples = load_audio(source)
    samples = 0.5 * samples / np.max(np.abs(samples))
    wav = folder / "microphone.wav"
    write_wav(wav, samples)
    return wav


class RecordCommand:
    """`whisper-tune record` in a subprocess, with its page address read from stderr."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        env = {**os.environ, "PYTHONPATH": str(Path(whisper_tune.__file__).parents[1])}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "whisper_tune", "record", *args, "--port", "0", "--no-browser"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=cwd,
        )
        self.stderr_lines: queue.Queue[str] = queue.Queue()
        self.stderr_text: list[str] = []
        self._pump_thread = threading.Thread(target=self._pump, daemon=True)
        self._pump_thread.start()
        self.url = self._wait_for_url()

    def _pump(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr_lines.put(line)

    def _wait_for_url(self) -> str:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            try:
                line = self.stderr_lines.get(timeout=1)
            except queue.Empty:
                if self.process.poll() is not None:
                    break
                continue
            self.stderr_text.append(line)
            match = re.search(r"recording page: (http://127\.0\.0\.1:\d+/)", line)
            if match:
                return match.group(1)
        self.process.kill()
        pytest.fail(f"`whisper-tune record` gave no page address: {''.join(self.stderr_text)}")

    def finish(self) -> str:
        """Wait for the command to end (after the page's Finish); its stdout.

        Not ``communicate()``: it would read and close stderr under the pump thread. stdout
        carries only the result (far less than a pipe's buffer), so waiting first is safe.
        """
        assert self.process.stdout is not None
        self.process.wait(timeout=WAIT_S)
        stdout = self.process.stdout.read()
        self._pump_thread.join(timeout=WAIT_S)  # every stderr line is queued
        while not self.stderr_lines.empty():
            self.stderr_text.append(self.stderr_lines.get())
        assert self.process.returncode == 0, "".join(self.stderr_text)
        return stdout

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=WAIT_S)


def chromium(tmp_path: Path, microphone: Path, allow_microphone: bool = True):
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    flags = [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--window-size=1100,760",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={microphone}",
    ]
    flags.append("--use-fake-ui-for-media-stream" if allow_microphone else "--deny-permission-prompts")
    for flag in flags:
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))


@pytest.fixture
def terms_file(tmp_path: Path) -> Path:
    path = tmp_path / "terms.txt"
    path.write_text("\n".join(TERMS) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def commands() -> Iterator[list[RecordCommand]]:
    started: list[RecordCommand] = []
    yield started
    for command in started:
        command.kill()


class Page:
    """The recording page, operated through its keyboard shortcuts and buttons."""

    def __init__(self, driver, url: str) -> None:
        from selenium.webdriver.support.ui import WebDriverWait

        self.driver = driver
        self.wait = WebDriverWait(driver, WAIT_S)
        driver.get(url)

    def state(self) -> str:
        return self.driver.execute_script("return document.body.dataset.state")

    def wait_state(self, *states: str) -> None:
        self.wait.until(lambda d: self.state() in states, f"page state never became {states}")

    def current_id(self) -> str:
        return self.driver.find_element("id", "prompt-text").get_attribute("data-id")

    def key(self, key: str) -> None:
        from selenium.webdriver.common.action_chains import ActionChains

        ActionChains(self.driver).send_keys(key).perform()

    def record(self, seconds: float = 1.6) -> None:
        from selenium.webdriver.common.keys import Keys

        self.wait_state("ready", "review")
        self.key(Keys.SPACE)
        self.wait_state("recording")
        time.sleep(seconds)
        self.key(Keys.SPACE)
        self.wait_state("review")

    def accept(self, expect_next: str) -> None:
        from selenium.webdriver.common.keys import Keys

        self.key(Keys.ENTER)
        self.wait.until(
            lambda d: self.state() == "ready" and self.current_id() == expect_next,
            f"after enter the page did not move on to {expect_next}: {self.text('message')}",
        )

    def text(self, element_id: str) -> str:
        return self.driver.find_element("id", element_id).text

    def choose(self, prompt_id: str) -> None:
        self.driver.find_element("css selector", f'.chip[data-id="{prompt_id}"]').click()
        self.wait.until(lambda d: self.current_id() == prompt_id)


def test_record_skip_rerecord_resume(tmp_path: Path, microphone_wav: Path, terms_file: Path, commands, capsys) -> None:
    out = tmp_path / "recordings"
    prompts = build_prompts(TERMS, load_templates(), PER_TERM)
    assert len(prompts) == 5  # two terms x (alone, short) + one held-out sentence
    first, second, skipped, third = prompts[0], prompts[1], prompts[2], prompts[3]
    args = ["--terms", str(terms_file), "--out", "recordings", "--voice", VOICE, "--per-term", str(PER_TERM)]

    commands.append(RecordCommand(args, cwd=tmp_path))
    driver = chromium(tmp_path, microphone_wav)
    try:
        page = Page(driver, commands[0].url)
        page.wait_state("ready")
        assert page.current_id() == first.id
        assert page.text("overall-text") == "0 of 5 recorded, 5 to go"

        page.record()
        page.accept(expect_next=second.id)
        first_take = (out / first.split / VOICE / f"{first.id}.wav").read_bytes()
        page.record()
        page.accept(expect_next=skipped.id)
        page.key("s")
        page.wait.until(lambda d: page.current_id() == third.id)
        page.record()
        page.accept(expect_next=prompts[4].id)

        page.choose(first.id)  # re-record the first prompt; then the skipped one is next
        page.record()
        shot = tmp_path / "record-page.png"
        assert driver.save_screenshot(str(shot))
        page.accept(expect_next=skipped.id)
        assert page.text("overall-text") == "3 of 5 recorded, 2 to go"
        driver.find_element("id", "finish").click()
        page.wait_state("finished")
    finally:
        driver.quit()
    stdout = commands[0].finish()

    recorded = [first, second, third]
    expected = {f"{p.split}/{VOICE}/{p.id}.{ext}" for p in recorded for ext in ("wav", "txt")} | {"prompts.csv"}
    assert {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()} == expected
    for prompt in recorded:
        wav = out / prompt.split / VOICE / f"{prompt.id}.wav"
        info = sf.info(str(wav))
        assert (info.samplerate, info.channels, info.subtype) == (16_000, 1, "PCM_16")
        assert 1.0 < info.duration < 3.0
        samples, _ = sf.read(str(wav), dtype="float32")
        assert frame_levels_db(samples, 16_000, 0.05).max() > -30, f"{wav} is nearly silent"
        assert wav.with_suffix(".txt").read_text(encoding="utf-8") == prompt.text + "\n"
    assert (out / first.split / VOICE / f"{first.id}.wav").read_bytes() != first_take, (
        "the re-recorded take was not saved"
    )
    next_steps = [line for line in stdout.splitlines() if line.startswith("whisper-tune ")]
    assert next_steps[0] == "whisper-tune manifest build recordings/train --speaker-from-dir -o data/train.csv"
    assert next_steps[-1].startswith("whisper-tune train --config configs/tiny_lora.yaml train_manifest=data/train.csv")

    capsys.readouterr()
    manifest = tmp_path / "data" / "train.csv"
    assert main(["manifest", "build", str(out / "train"), "--speaker-from-dir", "-o", str(manifest), "--strict"]) == 0
    assert "kept 3 of 3 clip(s)" in capsys.readouterr().out
    assert manifest.read_text(encoding="utf-8").count(f",{VOICE},") == 3

    if os.environ.get("WHISPER_TUNE_UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(shot, SCREENSHOT)

    # A second start offers only the prompts not yet recorded (the skipped one first).
    commands.append(RecordCommand(args, cwd=tmp_path))
    assert "3 of 5 prompt(s) already recorded" in "".join(commands[1].stderr_text)
    driver = chromium(tmp_path, microphone_wav)
    try:
        page = Page(driver, commands[1].url)
        page.wait_state("ready")
        assert page.current_id() == skipped.id
        assert page.text("overall-text") == "3 of 5 recorded, 2 to go"
        page.key("s")
        page.wait.until(lambda d: page.current_id() == prompts[4].id)
        page.key("s")
        page.wait.until(lambda d: page.current_id() == skipped.id)
        driver.find_element("id", "finish").click()
        page.wait_state("finished")
    finally:
        driver.quit()
    commands[1].finish()


def test_refused_microphone_is_explained(tmp_path: Path, microphone_wav: Path, terms_file: Path, commands) -> None:
    out = tmp_path / "recordings"
    commands.append(RecordCommand(["--terms", str(terms_file), "--out", str(out)], cwd=tmp_path))
    driver = chromium(tmp_path, microphone_wav, allow_microphone=False)
    try:
        page = Page(driver, commands[0].url)
        page.wait_state("mic-error")
        assert "refused the microphone" in page.text("mic-error")
        assert not driver.find_element("id", "record").is_enabled()
    finally:
        driver.quit()
    commands[0].kill()
    assert not any(out.rglob("*.wav"))
