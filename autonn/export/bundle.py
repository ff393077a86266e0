"""A trained pipeline as data: a JSON manifest plus a dict of tensors.

The manifest holds what the model takes (columns and their encoding), the trial parameters the
network is rebuilt from (through ``autonn.families.builder.build_model``, the code that built it during the
search), how outputs read (probabilities or values) and the label of each class. Every export
format stores a bundle; nothing in one is executable.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from autonn.data.features import FeatureEncoder
from autonn.errors import ModelFileError
from autonn.params import dimension
from autonn.tasks import REGRESSION
from autonn.version import __version__

if TYPE_CHECKING:  # torch: imported by what builds the network, not by what reads a manifest
    import torch

    from autonn.export.pipeline import EnsembleModule, ScoringModule

KIND = "autonn-model"
FORMAT_VERSION = 1  # one network
ENSEMBLE_VERSION = 2  # several networks (``members``): readers of format 1 refuse them


@dataclass(frozen=True)
class Member:
    """One network of an ensemble: its parameters, outputs and weight in the mean."""

    params: dict[str, Any]
    n_outputs: int
    output: str  # "softmax", "sigmoid" or "identity"
    weight: float = 1.0

@dataclass(frozen=True)
class Bundle:
    """What an export carries; see the module docstring."""

    task: str
    params: dict[str, Any]
    n_outputs: int  # the network's output width
    output: str  # "softmax", "sigmoid" or "identity"
    encoder: FeatureEncoder
    classes: list[Any] = field(default_factory=list)  # the user's label of each class index
    target: str | list[str] | None = None  # the target column name(s), for output headers
    n_targets: int = 1
    input_shape: list[int] | None = None  # the cnn family's view of a row
    info: dict[str, Any] = field(default_factory=dict)  # study, trial, metric, value, ...
    tensors: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)
    feature_clip: float = 0.0  # the soft clip of standardised features (0 in files before it)
    members: list[Member] = field(default_factory=list)  # an ensemble's networks (params, ...
    # n_outputs and output above are then its first member's)
    continuous: list[int] | None = None  # the columns embeddings embed (None, and in files
    # before it: every column)

    @property
    def n_features(self) -> int:
        """The network's input width: what the column encoding produces."""
        return self.encoder.n_features

    @property
    def is_classifier(self) -> bool:
        return self.task != REGRESSION

    def manifest(self) -> dict[str, Any]:
        """The JSON-able description (everything but the tensors)."""
        manifest = {"kind": KIND, "format_version": FORMAT_VERSION,
                    "autonn_version": __version__, "task": self.task, "params": self.params,
                    "n_outputs": self.n_outputs, "output": self.output,
                    "n_targets": self.n_targets, "input_shape": self.input_shape,
                    "classes": self.classes, "target": self.target,
                    "encoder": self.encoder.to_json(), "info": self.info,
                    "feature_clip": self.feature_clip, "continuous": self.continuous}
        if self.members:
            manifest.update(format_version=ENSEMBLE_VERSION,
                            members=[asdict(m) for m in self.members])
        return manifest

    def manifest_json(self) -> str:
        return json.dumps(self.manifest(), sort_keys=True, default=_plain)

    @classmethod
    def from_manifest(cls, text: str | bytes, tensors: dict[str, torch.Tensor] | None = None,
                      source: str = "model") -> Bundle:
        """Parse a manifest written by ``manifest_json``; refuse anything else."""
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise ModelFileError(f"{source}: the autonn manifest is not valid JSON; the file is "
                                 "damaged or not an autonn export.") from None
        if not isinstance(data, dict) or data.get("kind") != KIND:
            raise ModelFileError(f"{source}: not an autonn model (no autonn manifest); export "
                                 "one with `autonn export`.")
        if data.get("format_version") not in (FORMAT_VERSION, ENSEMBLE_VERSION):
            raise ModelFileError(f"{source}: autonn model format {data.get('format_version')}, "
                                 f"this autonn reads formats {FORMAT_VERSION} and "
                                 f"{ENSEMBLE_VERSION}; export it again with this version.")
        try:
            return cls(data["task"], data["params"], int(data["n_outputs"]), data["output"],
                       FeatureEncoder.from_json(data["encoder"]), list(data["classes"]),
                       data.get("target"), int(data.get("n_targets", 1)),
                       data.get("input_shape"), data.get("info", {}), dict(tensors or {}),
                       float(data.get("feature_clip", 0.0)),
                       [Member(**m) for m in data.get("members", [])], data.get("continuous"))
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(f"{source}: the autonn manifest is incomplete ({exc}); the file "
                                 "is damaged.") from None

    def module(self, source: str = "model") -> ScoringModule | EnsembleModule:
        """Rebuild the network(s) from their parameters and load the tensors (strictly).

        A manifest can ask for any size: its numbers are bounded first, then the networks are
        built on torch's meta device (no memory) and their shapes compared with the tensors in
        the file, so nothing larger than the file is ever allocated.
        """
        import torch

        members = self.members or [Member(self.params, self.n_outputs, self.output)]
        self._check_bounds(members, source)
        if self.tensors:
            with torch.device("meta"):
                skeleton = self._assemble(members)
            _same_shapes(skeleton.state_dict(), self.tensors, source)
            _check_activations(skeleton, self.n_features, source)
        module = self._assemble(members)
        try:
            module.load_state_dict(self.tensors, strict=True)
        except RuntimeError as exc:
            first = str(exc).splitlines()[0]
            raise ModelFileError(f"{source}: the weights do not fit the architecture in its "
                                 f"manifest ({first}); the file is damaged.") from None
        return module.eval()

    def check_bounds(self, source: str = "model") -> None:
        """Refuse sizes no autonn search produces (before a loader runs or builds anything)."""
        self._check_bounds(self.members or [Member(self.params, self.n_outputs, self.output)],
                           source)

    def _assemble(self, members: list[Member]) -> ScoringModule | EnsembleModule:
        from autonn.export.pipeline import EnsembleModule  # torch: builds the network

        scorers = [self._scorer(m) for m in members]
        if not self.members:
            return scorers[0]
        return EnsembleModule(scorers, [m.weight for m in members])

    def _check_bounds(self, members: list[Member], source: str) -> None:
        """Refuse sizes no autonn search produces before anything is built from them."""
        numbers = {"n_features": (self.n_features, "n_features"),
                   "n_targets": (self.n_targets, "n_targets"), "members": (len(members), "members")}
        for i, m in enumerate(members):
            numbers[f"members[{i}].n_outputs"] = (m.n_outputs, "n_outputs")
            numbers.update({f"members[{i}].params.{k}": (v, dimension(k))
                            for k, v in m.params.items() if dimension(k) in LIMITS})
        for field_name, (value, kind) in numbers.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not 0 <= value <= LIMITS[kind]:
                raise ModelFileError(f"{source}: manifest field {field_name} = {value!r} is out of "
                                     f"bounds (0 to {LIMITS[kind]}); the file is not a model "
                                     "autonn wrote.")
        if self.continuous is not None and not _column_list(self.continuous, self.n_features):
            raise ModelFileError(f"{source}: manifest field continuous is not a list of distinct "
                                 f"column numbers in increasing order below {self.n_features}; "
                                 "the file is not a model autonn wrote.")

    def _scorer(self, member: Member) -> ScoringModule:
        from autonn.export.pipeline import ScoringModule  # torch: builds the network
        from autonn.families.builder import build_model  # torch: as above

        shape = tuple(self.input_shape) if self.input_shape else None
        continuous = tuple(self.continuous) if self.continuous is not None else None
        network = build_model(member.params, self.n_features, member.n_outputs, shape, continuous)
        return ScoringModule(network, member.output, self.n_features, self.n_targets,
                             self.feature_clip)

    def with_tensors(self, tensors: dict[str, torch.Tensor]) -> Bundle:
        return replace(self, tensors=tensors)


# The largest size a manifest may ask for, per field (far above what a search samples).
LIMITS = {"n_layers": 256, "conv_blocks": 32, "width": 1 << 16, "channels": 1 << 14,
          "kernel_size": 64, "attention_dim": 4096, "attention_heads": 256,
          "embedding_dim": 4096, "n_features": 1 << 20, "n_targets": 1 << 16,
          "n_outputs": 1 << 16, "members": 1024}


def _column_list(value: Any, n_features: int) -> bool:
    """Whether ``value`` is a list of column numbers, increasing, each below ``n_features``."""
    return (isinstance(value, list) and all(type(c) is int for c in value)
            and all(a < b for a, b in zip(value, value[1:]))  # increasing: the ends bound all
            and all(0 <= c < n_features for c in value[:1] + value[-1:]))


def _same_shapes(expected: dict[str, torch.Tensor], tensors: dict[str, torch.Tensor],
                 source: str) -> None:
    """Refuse a file whose tensors are not exactly those of the architecture it declares."""
    for name in sorted(set(expected) | set(tensors)):
        want = tuple(expected[name].shape) if name in expected else None
        got = tuple(tensors[name].shape) if name in tensors else None
        if want != got:
            raise ModelFileError(f"{source}: tensor {name} is {got}, the architecture in the "
                                 f"manifest needs {want}; the file is damaged or not a model "
                                 "autonn wrote.")


MAX_ROW_BYTES = 1 << 30  # what one row's forward pass may hold (a search's nets: kilobytes)


def _check_activations(skeleton: Any, n_features: int, source: str) -> None:
    """Refuse a network whose forward pass holds more than ``MAX_ROW_BYTES`` for one row (a
    few-MB file can ask for GiBs: wide convolutions over a large view), measured by running
    one row through the skeleton on the meta device, which allocates nothing."""
    import torch

    total = [0]

    def count(module: Any, inputs: Any, out: Any) -> None:
        if isinstance(out, torch.Tensor):
            total[0] += out.numel() * out.element_size()

    leaves = [m for m in skeleton.modules() if not any(True for _ in m.children())]
    hooks = [m.register_forward_hook(count) for m in leaves]
    try:
        with torch.inference_mode():
            skeleton(torch.empty(1, n_features, device="meta"))
    except (RuntimeError, NotImplementedError, TypeError, ValueError):
        return  # an operation meta tensors lack: the shapes above still bound the weights
    finally:
        for hook in hooks:
            hook.remove()
    if total[0] > MAX_ROW_BYTES:
        raise ModelFileError(f"{source}: the network needs {total[0] / 2**30:.1f} GiB for each "
                             f"row it predicts (at most {MAX_ROW_BYTES / 2**30:.0f} GiB); it "
                             "is not a model an autonn search builds.")


def _plain(value: Any) -> Any:
    """NumPy scalars (class labels read from a table) as plain JSON values."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot store {type(value).__name__} in a manifest")
