"""Small building blocks shared by the encoders."""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import nn


class ResBlock1d(nn.Module):
    """Two 1D convolutions with batch norm and a (projected) skip connection."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int) -> None:
        super().__init__()
        pad = kernel // 2
        self.conv1 = nn.Conv1d(cin, cout, kernel, stride=stride, padding=pad, bias=False)
        self.bn1 = nn.BatchNorm1d(cout)
        self.conv2 = nn.Conv1d(cout, cout, kernel, padding=pad, bias=False)
        self.bn2 = nn.BatchNorm1d(cout)
        self.skip: nn.Module
        if stride != 1 or cin != cout:
            self.skip = nn.Sequential(nn.Conv1d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm1d(cout))
        else:
            self.skip = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + self.skip(x))


class ConvTrunk(nn.Module):
    """Stem + residual stages + global average pool + projection into the joint space."""

    def __init__(self, cin: int, widths: tuple[int, ...], kernel: int, embedding_dim: int, dropout: float) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv1d(cin, widths[0], kernel, padding=kernel // 2, bias=False),
            nn.BatchNorm1d(widths[0]),
            nn.ReLU(),
        )
        stages = []
        for cprev, cnext in itertools.pairwise(widths):
            stages.append(ResBlock1d(cprev, cnext, kernel, stride=2))
        self.stages = nn.Sequential(*stages)
        self.dropout = nn.Dropout(dropout)
        self.project = nn.Linear(widths[-1], embedding_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stages(self.stem(x))
        h = h.mean(dim=2)
        return F.normalize(self.project(self.dropout(h)), dim=1, eps=1e-6)
