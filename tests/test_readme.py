"""README's promises: its Python example runs, and CI runs exactly its test command."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _blocks(language):
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def test_python_examples_run(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the training example writes runs/tiny
    layers_example, regularisers_example, training_example = _blocks("python")
    exec(compile(layers_example, "README.md", "exec"), {})
    assert capsys.readouterr().out.strip() == "torch.Size([4, 64]) fused"
    exec(compile(regularisers_example, "README.md", "exec"), {})
    assert capsys.readouterr().out.split() == ["fused", "loop", "scan"]
    exec(compile(training_example, "README.md", "exec"), {})
    stop_reason, loss = capsys.readouterr().out.split()
    assert stop_reason == "completed" and float(loss) < 0.1
    assert (tmp_path / "runs" / "tiny" / "last" / "model.safetensors").is_file()


def test_ci_runs_the_readme_test_command():
    setup_and_run, setup_and_test = [block.strip() for block in _blocks("bash")]
    ci_commands = [line for line in (ROOT / ".ci/run").read_text().splitlines() if line and not line.startswith(("#", "set ", "cd "))]
    assert ci_commands == [setup_and_test]
    assert "pytest" in setup_and_test and "rnnkit lm train" in setup_and_run and "rnnkit lm generate" in setup_and_run
