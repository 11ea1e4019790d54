"""LookupGradient: sparse lookups written into one kept buffer train exactly as the dense
embedding backward does, with accumulation and either way of zeroing gradients."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from whisper_tune.training.lookup_gradient import LookupGradient

VOCAB, WIDTH, PAD = 300, 16, 3
# Rows per micro-batch: repeated tokens, the padding row, and batches whose rows do not
# overlap, so a row left over from the previous step would show.
STEPS = (
    [[5, 6, 5, 7], [8, PAD, 5, 9]],
    [[100, 101, 102, 100], [200, 201, PAD, PAD]],
    [[5, 250, 251, 252], [1, 2, 2, 2]],
    [[299, 0, 0, 17], [17, 18, 19, 20]],
)


class _Lookup(nn.Module):
    """An embedding only looked up (as in ACFT's decoder), then a layer that uses the rows."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embed = nn.Embedding(VOCAB, WIDTH, padding_idx=PAD)
        self.head = nn.Linear(WIDTH, 4)

    def forward(self, ids: list[list[int]]) -> torch.Tensor:
        return (self.head(self.embed(torch.tensor(ids))) ** 2).mean()


def _train(model: nn.Module, micro_batches: int, set_to_none: bool) -> list[dict[str, torch.Tensor]]:
    """Each step's gradients (before the update) and the final weights."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, fused=True)
    seen = []
    for batches in STEPS:
        for ids in batches[:micro_batches] if micro_batches == 2 else [batches[0] + batches[1]]:
            model(ids).backward()
        seen.append({name: _grad(p).clone() for name, p in model.named_parameters()})
        optimizer.step()
        optimizer.zero_grad(set_to_none=set_to_none)
    seen.append({name: p.detach().clone() for name, p in model.named_parameters()})
    return seen


@pytest.mark.parametrize("micro_batches", [1, 2])
@pytest.mark.parametrize("set_to_none", [True, False])
def test_gradients_and_weights_match_the_dense_backward(micro_batches, set_to_none):
    dense = _Lookup()
    sparse = copy.deepcopy(dense)
    LookupGradient(sparse.embed)
    expected = _train(dense, micro_batches, set_to_none)
    got = _train(sparse, micro_batches, set_to_none)
    for step, (want, have) in enumerate(zip(expected, got, strict=True)):
        for name in want:
            assert not have[name].is_sparse, (step, name)
            torch.testing.assert_close(have[name], want[name], rtol=1e-6, atol=1e-7, msg=f"step {step} {name}")
    assert torch.count_nonzero(got[0]["embed.weight"][PAD]) == 0  # the padding row gets no gradient


def test_one_buffer_serves_every_step():
    model = _Lookup()
    LookupGradient(model.embed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    addresses = set()
    for batches in STEPS:
        model(batches[0]).backward()
        addresses.add(_grad(model.embed.weight).data_ptr())
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    assert len(addresses) == 1


def test_remove_restores_the_dense_backward():
    model = _Lookup()
    hook = LookupGradient(model.embed)
    model(STEPS[0][0]).backward()
    kept = _grad(model.embed.weight)
    model.embed.weight.grad = None
    hook.remove()
    model(STEPS[1][0]).backward()
    fresh = _grad(model.embed.weight)
    assert model.embed.sparse is False
    assert not fresh.is_sparse and fresh.data_ptr() != kept.data_ptr()
    assert torch.count_nonzero(fresh[5]) == 0  # a fresh gradient: no row of the last step


def _grad(param: torch.Tensor) -> torch.Tensor:
    assert param.grad is not None
    return param.grad
