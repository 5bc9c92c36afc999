"""Batching with lengths and truncated-BPTT streams: layout, determinism, sharding, errors."""

import pytest
import torch

from rnnkit.data import PaddedBatches, StreamBatches, pad_sequences


def test_pad_sequences():
    padded, lengths = pad_sequences([torch.tensor([1, 2, 3]), torch.tensor([4])], value=-1)
    assert padded.tolist() == [[1, 2, 3], [4, -1, -1]] and lengths.tolist() == [3, 1]


def _padded(n=10, batch_size=4, shuffle=True):
    return PaddedBatches([torch.full((i + 1, 2), float(i)) for i in range(n)], torch.arange(n), batch_size, shuffle=shuffle)


def _ids(batch):
    return batch.targets.tolist()


def test_epoch_order_is_a_function_of_seed_and_epoch():
    data = _padded()
    first = [_ids(b) for b in data.batches(epoch=0, seed=1)]
    assert first == [_ids(b) for b in data.batches(epoch=0, seed=1)]
    assert first != [_ids(b) for b in data.batches(epoch=1, seed=1)]
    assert sorted(sum(first, [])) == list(range(10))


def test_start_skips_batches_exactly():
    data = _padded()
    assert [_ids(b) for b in data.batches(epoch=2, seed=0, start=1)] == [_ids(b) for b in data.batches(epoch=2, seed=0)][1:]


def test_ranks_split_each_batch():
    data = _padded(n=8, batch_size=4)
    whole = [_ids(b) for b in data.batches(0, 0)]
    shares = [[_ids(b) for b in data.batches(0, 0, rank=r, world_size=2)] for r in (0, 1)]
    for k, batch in enumerate(whole):
        assert sorted(shares[0][k] + shares[1][k]) == sorted(batch)


def test_lengths_and_per_step_padding():
    data = PaddedBatches([torch.tensor([1, 2, 3]), torch.tensor([4])], [torch.tensor([5, 6, 7]), torch.tensor([8])], 2, per_step=True, shuffle=False)
    batch = next(data.batches(0, 0))
    assert batch.lengths.tolist() == [3, 1]
    assert batch.targets.tolist() == [[5, 6, 7], [8, -100, -100]]
    assert batch.num_targets == 4 and len(data) == 1


@pytest.mark.parametrize(
    "args, message",
    [
        (([], [], 2), "inputs is empty"),
        (([torch.ones(2, 1)], [1, 2], 2), r"targets must have one entry per sequence \(1\); got 2"),
        (([torch.ones(0, 1)], [1], 2), "sequence 0 is empty"),
        (([torch.ones(2, 1)], [1], 0), "batch_size must be at least 1"),
    ],
)
def test_padded_errors(args, message):
    with pytest.raises(ValueError, match=message):
        PaddedBatches(*args)


def test_one_stream_is_split_into_contiguous_rows():
    text = torch.arange(21)
    data = StreamBatches([(text[:-1], text[1:])], batch_size=2, bptt=4)
    chunks = list(data.batches(0, 0))
    assert [c.inputs[1].tolist() for c in chunks] == [[10, 11, 12, 13], [14, 15, 16, 17], [18, 19, 0, 0]]
    assert [c.lengths.tolist() for c in chunks] == [[4, 4], [4, 4], [2, 2]]
    assert [c.reset.tolist() for c in chunks] == [[True, True], [False, False], [False, False]]
    assert torch.equal(chunks[0].targets[0], torch.tensor([1, 2, 3, 4]))


def test_documents_never_share_a_chunk_and_reset_where_they_start():
    docs = [(torch.arange(7), torch.arange(7)), (torch.arange(3) + 100, torch.arange(3)), (torch.arange(5) + 200, torch.arange(5))]
    data = StreamBatches(docs, batch_size=2, bptt=3)
    chunks = list(data.batches(0, 0))
    seen = torch.cat([c.inputs[r, : c.lengths[r]] for c in chunks for r in range(2)])
    assert sorted(seen.tolist()) == sorted(torch.cat([d[0] for d in docs]).tolist())
    for chunk in chunks:
        for row in range(2):
            piece = chunk.inputs[row, : chunk.lengths[row]]
            assert len({int(v) // 100 for v in piece}) <= 1, "a chunk mixes two documents"
            if chunk.reset[row]:
                assert int(piece[0]) % 100 == 0, "reset must mark a document's first chunk"


def test_stream_sharding_gives_each_rank_its_rows():
    text = torch.arange(41)
    data = StreamBatches([(text[:-1], text[1:])], batch_size=4, bptt=5)
    whole = next(data.batches(0, 0)).inputs
    share = next(data.batches(0, 0, rank=1, world_size=2)).inputs
    assert torch.equal(share, whole[1::2])


def test_stream_errors():
    with pytest.raises(ValueError, match="there is no data"):
        StreamBatches([(torch.zeros(0), torch.zeros(0))], batch_size=2, bptt=3)
    with pytest.raises(ValueError, match="sequence 0: inputs have 3 steps but targets have 2"):
        StreamBatches([(torch.zeros(3), torch.zeros(2))], batch_size=1, bptt=3)
