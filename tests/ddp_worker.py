"""Run under torchrun by test_distributed.py: train the toy language model with several processes.

    torchrun --standalone --nproc_per_node 2 tests/ddp_worker.py RUN_DIR MAX_STEPS [resume]
"""

import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist

sys.path.insert(0, str(Path(__file__).parent))
from rnnkit.training import TrainConfig, fit, masked_cross_entropy, model_loss  # noqa: E402
from toy import TokenModel, ToyConfig, token_streams  # noqa: E402


def main() -> None:
    run_dir, max_steps, resume = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3:] == ["resume"]
    torch.manual_seed(0)
    model = TokenModel(ToyConfig())
    config = TrainConfig(epochs=50, max_steps=max_steps, lr=0.01, device="cpu", progress=False, log_every=2)
    history = fit(model, token_streams(batch_size=4, bptt=4), config, loss_fn=model_loss(masked_cross_entropy),
                  val_data=token_streams(batch_size=4, bptt=4, seed=1), run_dir=run_dir, resume=resume)
    rank = dist.get_rank()
    checksum = float(sum(p.detach().double().sum() for p in model.parameters()))
    (run_dir / f"rank{rank}.json").write_text(json.dumps({"steps": history.steps, "checksum": checksum}))
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
