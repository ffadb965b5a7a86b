"""A training batch captured as a CUDA graph and replayed (``model.cuda_graph``).

A GAN batch of small networks launches a few hundred tiny kernels; replaying them as one CUDA graph
takes Python, the autograd engine and the launch queue out of the step. :class:`GraphedBatch` owns
the static input buffers and one graph per variant of the batch (with or without the generator
step, with or without the lazy R1 term): each variant's first batches run eagerly on a side stream,
under the capture's own autocast settings (lazy optimiser state, cuDNN plans), then it is
captured and replayed after that. Batches of another shape (an epoch's short last batch) are not
its business: the caller runs them eagerly.
"""

from collections.abc import Callable, Hashable

import torch

# eager batches of each variant on a side stream before its capture (PyTorch's whole-network capture recipe)
WARMUP_BATCHES = 3


def prepare_optimizer_for_capture(optimizer: torch.optim.Optimizer) -> None:
    """Make an optimiser's step capturable: ``capturable`` on, each group's lr a 0-dim device tensor
    (changed in place by lr schedules between replays; its float kept as ``base_lr`` when unset)
    and the step counters on the parameters' device."""
    for group in optimizer.param_groups:
        device = group["params"][0].device
        if not isinstance(group["lr"], torch.Tensor):
            if "base_lr" not in group:
                group["base_lr"] = group["lr"]
            group["lr"] = torch.tensor(float(group["lr"]), device=device)
        group["capturable"] = True
        for param in group["params"]:
            state = optimizer.state.get(param, {})
            if "step" in state:
                state["step"] = state["step"].to(device=device, dtype=torch.float32)


def portable_optimizer_state(state_dict: dict) -> dict:
    """An optimiser state dict as an eager optimiser saves it (float lr, not capturable, step
    counters on the host), so a checkpoint of a captured run resumes anywhere. The live
    optimiser's tensors are not touched."""
    groups = []
    for group in state_dict["param_groups"]:
        group = dict(group)
        if isinstance(group.get("lr"), torch.Tensor):
            group["lr"] = float(group["lr"])
        if "capturable" in group:
            group["capturable"] = False
        groups.append(group)
    state = {}
    for key, param_state in state_dict["state"].items():
        param_state = dict(param_state)
        if isinstance(param_state.get("step"), torch.Tensor):
            param_state["step"] = param_state["step"].detach().to("cpu", torch.float32)
        state[key] = param_state
    return {**state_dict, "param_groups": groups, "state": state}


class GraphedBatch:
    """Replays ``body(real, labels, noise) -> dict of tensors`` as a CUDA graph per ``variant``.

    ``real``, ``labels`` and the noise are copied into static buffers before every batch (the noise
    drawn there on the device by ``draw_noise(buffer)``); the returned tensors are the graph's
    static outputs, overwritten by the next replay. Autocast, when on, is entered again for the
    capture and its warm-up batches without its weight cache (a cached cast would be made outside
    the graph).
    """

    def __init__(self, warmup_batches: int = WARMUP_BATCHES) -> None:
        self.warmup_batches = warmup_batches
        self.warmed: dict[Hashable, int] = {}  # eager batches run so far, by variant
        self.inputs: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
        self.graphs: dict[Hashable, tuple[torch.cuda.CUDAGraph, dict[str, torch.Tensor]]] = {}

    def fits(self, real: torch.Tensor, labels: torch.Tensor) -> bool:
        """Whether this batch has the static shapes (the first batch sets them)."""
        if self.inputs is None:
            return real.is_cuda
        static_real, static_labels, _ = self.inputs
        return real.shape == static_real.shape and labels.shape == static_labels.shape

    def __call__(
        self,
        body: Callable[..., dict[str, torch.Tensor]],
        real: torch.Tensor,
        labels: torch.Tensor,
        noise_dim: int,
        draw_noise: Callable[[torch.Tensor], None],
        variant: Hashable,
    ) -> dict[str, torch.Tensor]:
        """One batch of ``variant``: warmed up eagerly, captured, or replayed; returns the static outputs."""
        if self.inputs is None:
            noise = torch.empty(len(real), noise_dim, device=real.device)
            self.inputs = (torch.empty_like(real), torch.empty_like(labels), noise)
        static_real, static_labels, static_noise = self.inputs
        static_real.copy_(real)
        static_labels.copy_(labels)
        draw_noise(static_noise)
        if variant in self.graphs:
            graph, outputs = self.graphs[variant]
            graph.replay()
            return outputs
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        if self.warmed.get(variant, 0) < self.warmup_batches:
            self.warmed[variant] = self.warmed.get(variant, 0) + 1
            with torch.cuda.stream(side), self._autocast_without_cache():
                outputs = body(static_real, static_labels, static_noise)
            torch.cuda.current_stream().wait_stream(side)
            return outputs
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, stream=side, capture_error_mode="thread_local"), self._autocast_without_cache():
            outputs = body(static_real, static_labels, static_noise)
        self.graphs[variant] = (graph, outputs)
        graph.replay()
        return outputs

    @staticmethod
    def _autocast_without_cache():
        if torch.is_autocast_enabled("cuda"):
            return torch.autocast("cuda", dtype=torch.get_autocast_dtype("cuda"), cache_enabled=False)
        return torch.autocast("cuda", enabled=False)
