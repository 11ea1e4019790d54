"""The recording server over real HTTP on 127.0.0.1: page files, the API, refusals, ports."""

from __future__ import annotations

import http.client
import io
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from whisper_tune.errors import DataError
from whisper_tune.record.server import PAGE_FILES, RecorderServer
from whisper_tune.record.session import RecordingSession, SessionOptions, SessionSummary, next_commands


def wav_bytes(samples: np.ndarray, rate: int = 44_100) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def spoken(seconds: float = 1.0, rate: int = 44_100) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 200 * t) * np.hanning(len(t))).astype(np.float32)


@pytest.fixture
def session(tmp_path: Path) -> RecordingSession:
    terms = tmp_path / "terms.txt"
    terms.write_text("kubectl\nGrafana\n", encoding="utf-8")
    return RecordingSession.open(SessionOptions(tmp_path / "rec", terms, voice="alice", per_term=2))


@pytest.fixture
def server(session: RecordingSession) -> Iterator[RecorderServer]:
    with RecorderServer(session, port=0) as running:
        yield running


def request(server: RecorderServer, method: str, path: str, body: bytes | None = None, host: str | None = None):
    port = int(server.url.rsplit(":", 1)[1].strip("/"))
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Content-Type": "audio/wav"} if body is not None else {}
    if host:
        headers["Host"] = host
    connection.request(method, path, body=body, headers=headers)
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response, data


def test_serves_the_page_offline(server: RecorderServer) -> None:
    assert server.url.startswith("http://127.0.0.1:")
    response, page = request(server, "GET", "/")
    assert response.status == 200 and b"Record your words" in page
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    for name in PAGE_FILES:
        response, body = request(server, "GET", f"/static/{name}")
        assert response.status == 200 and body, name
        # Nothing is fetched from elsewhere: the page works offline.
        assert b"http://" not in body and b"https://" not in body, name
    assert request(server, "GET", "/static/../server.py")[0].status == 404
    assert request(server, "GET", "/static/templates.yaml")[0].status == 404


def test_state_lists_prompts_and_limits(server: RecorderServer) -> None:
    response, body = request(server, "GET", "/api/state")
    state = json.loads(body)
    assert response.status == 200 and state["voice"] == "alice"
    assert [p["id"] for p in state["prompts"]][:2] == ["kubectl-alone-1", "kubectl-short-1"]
    assert state["limits"]["silence_db"] == -45.0
    assert not any(p["recorded"] for p in state["prompts"])


def test_a_take_is_saved_and_played_back(server: RecorderServer, session: RecordingSession) -> None:
    response, body = request(server, "POST", "/api/takes/kubectl-alone-1", wav_bytes(spoken()))
    result = json.loads(body)
    assert response.status == 200, result
    assert result["prompt"]["recorded"] and result["duration"] == pytest.approx(1.0, abs=1e-3)
    wav = session.folder.root / "train" / "alice" / "kubectl-alone-1.wav"
    assert sf.info(str(wav)).samplerate == 16_000
    response, body = request(server, "GET", "/api/takes/kubectl-alone-1")
    assert response.status == 200 and body == wav.read_bytes()
    assert session.summary().recorded == {"train": 1, "val": 0}


def test_silent_and_clipped_takes_are_refused_and_nothing_is_lost(
    server: RecorderServer, session: RecordingSession
) -> None:
    assert request(server, "POST", "/api/takes/kubectl-alone-1", wav_bytes(spoken()))[0].status == 200
    wav = session.folder.root / "train" / "alice" / "kubectl-alone-1.wav"
    before = wav.read_bytes()
    response, body = request(server, "POST", "/api/takes/kubectl-alone-1", wav_bytes(np.zeros(44_100, np.float32)))
    assert response.status == 422 and json.loads(body)["error"].startswith("no speech heard")
    clipped = np.clip(spoken() * 10, -1, 1)
    response, body = request(server, "POST", "/api/takes/kubectl-alone-1", wav_bytes(clipped))
    assert response.status == 422 and json.loads(body)["error"].startswith("the take is clipped")
    assert wav.read_bytes() == before


def test_unknown_prompts_and_foreign_hosts_are_refused(server: RecorderServer) -> None:
    response, body = request(server, "POST", "/api/takes/nope", wav_bytes(spoken()))
    assert response.status == 409 and "no prompt 'nope'" in json.loads(body)["error"]
    assert request(server, "GET", "/api/takes/kubectl-alone-1")[0].status == 409  # nothing saved yet
    assert request(server, "GET", "/api/state", host="attacker.example:80")[0].status == 403
    assert (
        request(server, "GET", "/api/state", host=f"localhost:{server.url.rsplit(':', 1)[1].strip('/')}")[0].status
        == 200
    )


def test_finish_ends_the_wait(server: RecorderServer) -> None:
    assert not server.wait(timeout=0.01)
    assert request(server, "POST", "/api/finish")[0].status == 200
    assert server.wait(timeout=5)


def test_a_port_in_use_is_a_clear_error(session: RecordingSession) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with pytest.raises(DataError, match=f"`port` {port}: the port is in use"):
            RecorderServer(session, port)
    with pytest.raises(DataError, match="`port` 70000: expected a port number"):
        RecorderServer(session, 70000)


def test_next_commands() -> None:
    both = next_commands(SessionSummary(Path("my recs"), {"train": 6, "val": 2}, 9))
    assert both == [
        "whisper-tune manifest build 'my recs/train' --speaker-from-dir -o data/train.csv",
        "whisper-tune manifest build 'my recs/val' --speaker-from-dir -o data/val.csv",
        "whisper-tune train --config configs/tiny_lora.yaml train_manifest=data/train.csv "
        "validation_manifest=data/val.csv output_dir=runs/mine --merge",
    ]
    train_only = next_commands(SessionSummary(Path("r"), {"train": 2, "val": 0}, 3))
    assert train_only[-1].endswith(
        "train_manifest=data/train.csv validation_manifest=null output_dir=runs/mine --merge"
    )
    assert next_commands(SessionSummary(Path("r"), {"train": 0, "val": 1}, 3)) == []


@pytest.mark.parametrize("recorded", [{"train": 6, "val": 2}, {"train": 2, "val": 0}])
def test_the_printed_train_command_loads_its_config(recorded: dict[str, int]) -> None:
    import shlex

    from whisper_tune.cli.main import build_parser
    from whisper_tune.training.config import load_train_config

    command = next_commands(SessionSummary(Path("rec"), recorded, 9))[-1]
    args = build_parser().parse_args(shlex.split(command)[1:])
    repo = Path(__file__).resolve().parents[2]
    config = load_train_config(repo / args.config, [*args.overrides, "resume=no"])
    assert config.train_manifest == Path("data/train.csv")
    assert config.validation_manifest == (Path("data/val.csv") if recorded["val"] else None)
