"""`rnnkit serve`: every endpoint in process, every kind of bad request answered 4xx with a message
naming the field, streaming generation token by token, both backends, and one real uvicorn process
on a free loopback port."""

import json
import socket
import threading
import time

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
uvicorn = pytest.importorskip("uvicorn")

from fastapi.testclient import TestClient  # noqa: E402

from rnnkit.cli import main  # noqa: E402
from rnnkit.serve import load_service  # noqa: E402
from rnnkit.serve.app import Limits, build_app  # noqa: E402

CPU = ["--no-progress", "--device", "cpu"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve")
    assert main(["lm", "train", "--preset", "tiny", "--max-steps", "30", "--hidden-size", "32", "--embedding-size", "16",
                 "--out", str(root / "shakes"), *CPU]) == 0
    train = root / "train.tsv"
    train.write_text("text\tlabel\n" + "a wonderful film\tpos\ngreat story\tpos\na dull film\tneg\nboring story\tneg\n" * 5)
    assert main(["classify", "train", "--data", str(train), "--out", str(root / "reviews"), "--epochs", "2", "--hidden-size", "8",
                 "--embedding-size", "8", *CPU]) == 0
    assert main(["forecast", "example", str(root / "demand.csv")]) == 0
    assert main(["forecast", "train", "--data", str(root / "demand.csv"), "--time-column", "time", "--target", "demand",
                 "--lookback", "24", "--horizon", "6", "--epochs", "1", "--hidden-size", "8", "--stride", "8", "--out",
                 str(root / "demand"), *CPU]) == 0
    return root


@pytest.fixture(scope="module")
def client(runs):
    services = [load_service(runs / name) for name in ("shakes", "reviews", "demand")]
    with TestClient(build_app(services, Limits(max_body_bytes=20_000, max_items=4, max_tokens=50))) as c:
        yield c


def _history(runs, rows=30):
    lines = (runs / "demand.csv").read_text().splitlines()
    header, body = lines[0].split(","), [line.split(",") for line in lines[1:]][-rows:]
    return {name: [row[i] if name == "time" else float(row[i]) for row in body] for i, name in enumerate(header)}


def test_health_readiness_and_models(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json()["models"] == ["demand", "reviews", "shakes"]
    models = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
    assert models["reviews"]["labels"] == ["neg", "pos"] and models["shakes"]["task"] == "lm"
    assert models["demand"]["lookback"] == 24 and models["demand"]["columns"] == ["time", "demand"]


def test_lm_generation_equals_rnnkit_and_streams_token_by_token(client, runs):
    from rnnkit.tasks.lm import generate

    expected = "".join(generate(runs / "shakes", "The ", max_tokens=20, temperature=0.0, device_name="cpu"))
    reply = client.post("/v1/lm", json={"prompt": "The ", "max_tokens": 20, "temperature": 0})
    assert reply.status_code == 200 and reply.json()["text"] == expected
    with client.stream("POST", "/v1/lm", json={"prompt": "The ", "max_tokens": 20, "temperature": 0, "stream": True}) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        frames = [block for block in stream.iter_text() for block in block.split("\n\n") if block.strip()]
    events = [(f.split("\n")[0].removeprefix("event: "), json.loads(f.split("\n")[1].removeprefix("data: "))) for f in frames]
    tokens = [data["text"] for kind, data in events if kind == "token"]
    assert len(tokens) == 20 and "".join(tokens) == expected  # one event per generated character
    assert events[-1] == ("done", {"finish_reason": "length", "pieces": 20})


def test_classify_and_forecast_equal_rnnkit(client, runs):
    from rnnkit.tasks.classify import predict
    from rnnkit.tasks.forecast.inference import predict as forecast_predict

    reply = client.post("/v1/classify", json={"inputs": ["a wonderful story", "dull"]}).json()
    names, want = predict(runs / "reviews", None, stdin="a wonderful story\ndull", device_name="cpu")
    got = np.array([[row[n] for n in names] for row in reply["probabilities"]])
    np.testing.assert_allclose(got, want.numpy(), atol=1e-5)
    assert reply["labels"] == [names[i] for i in want.argmax(1)] and reply["unknown_tokens"] == [0, 0]

    history = _history(runs)
    reply = client.post("/v1/forecast", json={"columns": history})
    assert reply.status_code == 200, reply.text
    path = runs / "history.csv"
    path.write_text("time,demand\n" + "".join(f"{t},{d}\n" for t, d in zip(history["time"], history["demand"])))
    want = forecast_predict(runs / "demand", str(path), device_name="cpu")
    np.testing.assert_allclose(np.array(reply.json()["mean"]), want["mean"], rtol=1e-5)
    assert len(reply.json()["times"]) == 6


@pytest.mark.parametrize("path, body, field, needle", [
    ("/v1/lm", {"prompt": 5}, "prompt", "string"),
    ("/v1/lm", {"prompt": "hi", "max_tokens": 0}, "max_tokens", "greater than"),
    ("/v1/lm", {"prompt": "hi", "max_tokens": 51}, "max_tokens", "at most 50"),
    ("/v1/lm", {"prompt": "hi", "temperature": "hot"}, "temperature", "number"),
    ("/v1/lm", {"prompt": "\u4e2d\u6587"}, "prompt", "vocabulary lacks"),
    ("/v1/lm", {"prompt": "hi", "model": "nope"}, "model", "no lm model is called 'nope'"),
    ("/v1/lm", {"prompt": "hi", "file": "/etc/passwd"}, "file", "Extra inputs"),
    ("/v1/classify", {"inputs": []}, "inputs", "at least 1"),
    ("/v1/classify", {"inputs": ["", "fine"]}, "inputs[0]", "no tokens"),
    ("/v1/classify", {"inputs": ["a"] * 5}, "inputs", "limit is 4"),
    ("/v1/classify", {"inputs": [[1.0, 2.0]]}, "inputs[0]", "text"),
    ("/v1/forecast", {"columns": {"demand": [1.0] * 30}}, "columns.time", "lacks"),
])
def test_bad_requests_get_4xx_naming_the_field(client, path, body, field, needle):
    reply = client.post(path, json=body)
    assert 400 <= reply.status_code < 500, reply.text
    error = reply.json()["error"]
    assert error["field"] == field and needle in error["message"], error


def test_malformed_nan_oversized_and_short_inputs(client, runs):
    reply = client.post("/v1/lm", content=b'{"prompt": "hi"', headers={"content-type": "application/json"})
    assert reply.status_code == 422 and reply.json()["error"]["code"] == "invalid_json"
    history = _history(runs)
    text = json.dumps({"columns": history}).replace(str(history["demand"][3]), "NaN", 1)
    reply = client.post("/v1/forecast", content=text.encode(), headers={"content-type": "application/json"})
    assert reply.status_code == 422 and reply.json()["error"]["field"].startswith("columns.demand")
    reply = client.post("/v1/forecast", json={"columns": _history(runs, rows=10)})
    assert reply.status_code == 422 and "lookback" in reply.json()["error"]["message"]
    history["demand"][5] = "12.5"  # a number sent as a string in a numeric column
    reply = client.post("/v1/forecast", json={"columns": history})
    assert reply.status_code == 422 and reply.json()["error"]["field"] == "columns.demand[5]", reply.text
    assert "numeric column" in reply.json()["error"]["message"]
    reply = client.post("/v1/classify", json={"inputs": ["x" * 30_000]})
    assert reply.status_code == 413 and reply.json()["error"]["code"] == "too_large"
    assert client.get("/v1/nothing").status_code == 404 and client.get("/v1/lm").status_code == 405


def test_readiness_waits_for_loading_and_busy_server_answers_503(runs):
    gate = threading.Event()

    def slow():
        gate.wait(10)
        return [load_service(runs / "reviews")]

    with TestClient(build_app(slow)) as c:
        assert c.get("/readyz").status_code == 503
        loading = c.post("/v1/classify", json={"inputs": ["a"]})
        assert loading.status_code == 503 and loading.json()["error"]["code"] == "not_ready"
        gate.set()
        for _ in range(100):
            if c.get("/readyz").status_code == 200:
                break
            time.sleep(0.05)
        assert c.post("/v1/classify", json={"inputs": ["a"]}).status_code == 200
    with TestClient(build_app([load_service(runs / "reviews")], Limits(max_in_flight=0))) as c:
        reply = c.post("/v1/classify", json={"inputs": ["a"]})
        assert reply.status_code == 503 and reply.json()["error"]["code"] == "busy"
        assert c.get("/healthz").status_code == 200  # health checks are never turned away


def test_onnx_backend_gives_the_same_answers(runs):
    pytest.importorskip("onnxruntime")
    for name in ("shakes", "reviews"):
        assert main(["export", str(runs / name)]) == 0
    services = [load_service(runs / name, backend) for name in ("shakes", "reviews") for backend in ("torch",)]
    onnx = [load_service(runs / name, "onnx") for name in ("shakes", "reviews")]
    with TestClient(build_app(services)) as a, TestClient(build_app(onnx)) as b:
        body = {"prompt": "The ", "max_tokens": 15, "temperature": 0}
        assert a.post("/v1/lm", json=body).json()["text"] == b.post("/v1/lm", json=body).json()["text"]
        body = {"inputs": ["great film", "a boring dull story"]}
        pa, pb = a.post("/v1/classify", json=body).json(), b.post("/v1/classify", json=body).json()
        assert pa["labels"] == pb["labels"]
        for ra, rb in zip(pa["probabilities"], pb["probabilities"]):
            assert all(abs(ra[k] - rb[k]) < 1e-4 for k in ra)


def test_a_real_uvicorn_server_on_loopback(runs):
    import httpx

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(build_app([load_service(runs / "reviews")]), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if server.started:
                break
            time.sleep(0.05)
        assert server.started
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            assert http.get("/readyz").status_code == 200
            replies = [http.post("/v1/classify", json={"inputs": ["great story"]}) for _ in range(5)]
            assert all(r.status_code == 200 for r in replies)
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
    assert not thread.is_alive()


def test_a_client_that_goes_away_stops_its_generation(runs):
    import httpx

    lm = load_service(runs / "shakes")
    produced = []
    real = lm.stream

    def slow(*args):  # 20 ms a piece, so that 50 pieces would take a second
        for piece in real(*args):
            time.sleep(0.02)
            produced.append(piece)
            yield piece

    lm.stream = slow
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(build_app([lm]), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if server.started:
                break
            time.sleep(0.05)
        body = {"prompt": "The ", "max_tokens": 50, "temperature": 0, "stream": True}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            with http.stream("POST", "/v1/lm", json=body) as stream:
                first = next(stream.iter_text())
            assert first.startswith("event: token")
        # the connection is closed: the model's lock comes free long before 50 pieces would be done
        assert lm.lock.acquire(timeout=2.0)
        lm.lock.release()
        assert 1 <= len(produced) < 50
        settled = len(produced)
        time.sleep(0.3)
        assert len(produced) == settled  # and nothing more is generated
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:  # the model still answers
            reply = http.post("/v1/lm", json={**body, "max_tokens": 3, "stream": False})
            assert reply.status_code == 200 and len(reply.json()["text"]) == 3
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def test_serve_command_refuses_bad_arguments(runs, capsys, tmp_path):
    assert main(["serve", str(tmp_path)]) == 1
    assert "not a run directory" in capsys.readouterr().err
    assert main(["serve", str(runs / "reviews"), "--max-items", "0"]) == 1
    assert "--max-items must be at least 1" in capsys.readouterr().err


def test_translate_endpoint(tmp_path):
    assert main(["translate", "example", str(tmp_path / "numbers"), "--limit", "200"]) == 0
    numbers, run = tmp_path / "numbers", tmp_path / "numbers-run"
    assert main(["translate", "train", "--src", str(numbers / "train.de"), "--tgt", str(numbers / "train.en"), "--tokenizer", "char",
                 "--epochs", "3", "--hidden-size", "16", "--embedding-size", "8", "--out", str(run), *CPU]) == 0
    from rnnkit.tasks.translate import run as translate

    texts = (numbers / "train.de").read_text().splitlines()[:3]
    with TestClient(build_app([load_service(run)])) as c:
        reply = c.post("/v1/translate", json={"texts": texts, "beam": 3})
        assert reply.status_code == 200 and reply.json()["translations"] == translate(run, texts, beam_size=3, device_name="cpu")
        bad = c.post("/v1/translate", json={"texts": ["  "]})
        assert bad.status_code == 422 and bad.json()["error"]["field"] == "texts[0]"
        assert c.post("/v1/translate", json={"texts": texts, "beam": 0}).json()["error"]["field"] == "beam"
    pytest.importorskip("onnxruntime")
    assert main(["export", str(run)]) == 0
    with TestClient(build_app([load_service(run, "onnx")])) as c:
        reply = c.post("/v1/translate", json={"texts": texts})
        assert reply.json()["beam"] == 5 and reply.json()["translations"] == translate(run, texts, beam_size=5, device_name="cpu")


def test_speech_endpoint_transcribes_like_rnnkit_on_both_backends(tmp_path):
    import base64

    from rnnkit.data.audio import load_mono, write_wav
    from rnnkit.tasks.speech.recognize import Decoding, transcribe

    tones, run = tmp_path / "tones", tmp_path / "tones-run"
    assert main(["speech", "example", str(tones), "--train", "24", "--val", "4", "--test", "4"]) == 0
    assert main(["speech", "train", "--train", str(tones / "train.jsonl"), "--val", str(tones / "val.jsonl"), "--hidden-size", "32",
                 "--num-layers", "1", "--epochs", "3", "--batch-size", "8", "--lm-order", "3", "--out", str(run), *CPU]) == 0
    clips = sorted(str(p) for p in (tones / "wav").glob("test-*.wav"))
    audio = [base64.b64encode(open(clip, "rb").read()).decode() for clip in clips]
    upsampled = tmp_path / "upsampled.wav"
    write_wav(upsampled, load_mono(clips[0], 16000), 16000)
    with TestClient(build_app([load_service(run)], Limits(max_audio_seconds=5.0))) as c:
        for beam in (1, 4):
            got = [c.post("/v1/speech", json={"audio": a, "beam": beam}).json()["text"] for a in audio]
            assert got == [t.text for t in transcribe(run, clips, Decoding(beam=beam), device_name="cpu")]
        reply = c.post("/v1/speech", json={"audio": base64.b64encode(upsampled.read_bytes()).decode()})
        assert reply.status_code == 200  # the torch backend resamples, as rnnkit speech transcribe does
        for body, needle in (({"audio": "not base64!"}, "base64"), ({"audio": base64.b64encode(b"RIFF....WAVEnope").decode()}, "WAV"),
                             ({"audio": audio[0], "beam": 0}, "greater than")):
            reply = c.post("/v1/speech", json=body)
            assert reply.status_code == 422 and needle in reply.json()["error"]["message"], reply.text
        long = tmp_path / "long.wav"
        write_wav(long, np.zeros(8000 * 6), 8000)
        reply = c.post("/v1/speech", json={"audio": base64.b64encode(long.read_bytes()).decode()})
        assert reply.status_code == 422 and "the limit is 5 s" in reply.json()["error"]["message"]
    pytest.importorskip("onnxruntime")
    assert main(["export", str(run)]) == 0
    with TestClient(build_app([load_service(run, "onnx")])) as c:
        got = [c.post("/v1/speech", json={"audio": a}).json()["text"] for a in audio]
        assert got == [t.text for t in transcribe(run, clips, Decoding(), device_name="cpu")]
        assert c.post("/v1/speech", json={"audio": audio[0], "beam": 4}).json()["error"]["field"] == "beam"
        reply = c.post("/v1/speech", json={"audio": base64.b64encode(upsampled.read_bytes()).decode()})
        assert reply.status_code == 422 and "16000 Hz" in reply.json()["error"]["message"]


def test_micro_batching_runs_concurrent_requests_together_with_the_same_answers(runs):
    from concurrent.futures import ThreadPoolExecutor

    service = load_service(runs / "reviews")
    texts = ["a wonderful film", "boring", "great story", "a dull , boring film", "wonderful", "dull"]
    with TestClient(build_app([load_service(runs / "reviews")])) as alone:
        want = [alone.post("/v1/classify", json={"inputs": [t]}).json()["probabilities"] for t in texts]
    app = build_app([service], Limits(max_batch=16, max_wait_ms=200))
    with TestClient(app) as c, ThreadPoolExecutor(len(texts)) as pool:
        replies = list(pool.map(lambda t: c.post("/v1/classify", json={"inputs": [t]}), texts))
        bad = c.post("/v1/classify", json={"inputs": [""]})
    for reply, expected in zip(replies, want):
        got = reply.json()["probabilities"][0]
        assert all(abs(got[k] - expected[0][k]) < 1e-5 for k in got)  # padding next to other rows changes nothing
    assert service.batcher.batches < len(texts)  # some of them ran together
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "inputs[0]"  # checked before it could join a batch
