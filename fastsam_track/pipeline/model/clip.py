"""CLIP image and text embeddings, from open-clip-torch (the ``text`` extra).

open-clip-torch is on PyPI, maintained, builds every CLIP architecture from its own
configs (so the real model runs here with random weights) and loads pretrained weights
from the Hugging Face hub into its usual cache. Ultralytics' text model needs OpenAI's
``clip`` package from a git URL instead. The default is ViT-B/32 with OpenAI's weights,
the model FastSAM's own text prompt uses.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from fastsam_track.configs import CLIP_MODEL as DEFAULT_MODEL
from fastsam_track.configs import CLIP_PRETRAINED as DEFAULT_PRETRAINED
from fastsam_track.errors import ClipError

__all__ = ["DEFAULT_MODEL", "DEFAULT_PRETRAINED", "ClipEmbedder", "ClipError"]

RANDOM = "random"  # random weights: the real architecture and code path, for tests and timing


def _hub_cache() -> str:
    try:
        from huggingface_hub.constants import HF_HUB_CACHE
    except ImportError:  # open-clip-torch installs it; a path is only needed for the message
        return "the Hugging Face cache"
    return str(HF_HUB_CACHE)


_PROBE_SECONDS = 2.0  # a reachable hub answers a TCP connect far sooner; DNS that hangs is cut off here
_PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")


def _hub_files(open_clip: ModuleType, model: str, tag: str) -> tuple[str, list[str]] | None:
    """The Hugging Face repository and the file names open-clip would fetch for ``tag``, best first;
    None when the tag's weights come from a URL instead (or ``huggingface_hub`` is missing)."""
    from open_clip.constants import HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME
    from open_clip.pretrained import has_hf_hub

    hub = open_clip.get_pretrained_cfg(model, tag).get("hf_hub", "")
    if not hub or not has_hf_hub():
        return None
    repo, filename = os.path.split(hub)
    filename = filename or HF_WEIGHTS_NAME
    # As open-clip's download_pretrained_from_hf: a safetensors file is tried before the pickle.
    if filename == HF_WEIGHTS_NAME:
        safe = [HF_SAFE_WEIGHTS_NAME]
    elif filename.endswith((".bin", ".pth")):
        safe = [filename[:-4] + ".safetensors"]
    else:
        safe = []
    return repo, [*safe, filename]


def _cached_weights(open_clip: ModuleType, model: str, tag: str) -> str | None:
    """The local file of ``tag``'s weights in the Hugging Face or open-clip cache, or None.

    Only the cache folders are looked at (``try_to_load_from_cache``): no request is made.
    """
    hub = _hub_files(open_clip, model, tag)
    if hub is not None:
        from huggingface_hub import try_to_load_from_cache

        repo, names = hub
        for name in names:
            found = try_to_load_from_cache(repo, name)
            if isinstance(found, str):
                return found
        return None
    url = open_clip.get_pretrained_cfg(model, tag).get("url", "")
    target = Path("~/.cache/clip").expanduser() / os.path.basename(url)  # open-clip's download_pretrained_from_url
    return str(target) if url and target.is_file() else None


def _hub_offline() -> bool:
    """Whether ``HF_HUB_OFFLINE`` (or ``TRANSFORMERS_OFFLINE``) forbids requests to the hub."""
    try:
        from huggingface_hub import constants
    except ImportError:
        return False
    return bool(constants.is_offline_mode())


def _hub_address() -> tuple[str, int]:
    """Host and port of the Hugging Face endpoint (``HF_ENDPOINT``, default huggingface.co)."""
    try:
        from huggingface_hub import constants

        endpoint = constants.ENDPOINT
    except ImportError:
        endpoint = "https://huggingface.co"
    parts = urlsplit(endpoint)
    return parts.hostname or "huggingface.co", parts.port or (443 if parts.scheme == "https" else 80)


def _hub_reachable(timeout: float = _PROBE_SECONDS) -> bool:
    """Whether a TCP connection to the hub's host opens within ``timeout`` s (one try, no retries).

    Behind a proxy the host is not reached directly: the answer is then True and the download decides.
    """
    if any(os.environ.get(name) for name in _PROXY_VARIABLES):
        return True
    answer: list[bool] = []

    def connect() -> None:  # in a thread: a resolver that hangs is not bounded by the socket timeout
        try:
            with socket.create_connection(_hub_address(), timeout=timeout):
                answer.append(True)
        except OSError:
            answer.append(False)

    probe = threading.Thread(target=connect, name="hub-probe", daemon=True)
    probe.start()
    probe.join(timeout)
    return bool(answer and answer[0])


@contextlib.contextmanager
def _offline_hub() -> Iterator[None]:
    """Hugging Face hub requests refused while inside: weights found in the cache load without the
    network (a tag's weights do not change), so an offline machine does not wait on retries."""
    try:
        from huggingface_hub import constants
    except ImportError:
        yield
        return
    was, constants.HF_HUB_OFFLINE = constants.HF_HUB_OFFLINE, True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = was


def _check_weights(open_clip: ModuleType, model: str, tag: str) -> Any:
    """A context to load ``tag``'s weights in: offline when they are cached.

    Raises:
        ClipError: they are not cached and the hub cannot be reached (offline mode, no network):
            said at once, without open-clip's retries.
    """
    if _cached_weights(open_clip, model, tag) is not None:
        return _offline_hub()
    if _hub_offline() or not _hub_reachable():
        host, port = _hub_address()
        why = "HF_HUB_OFFLINE is set" if _hub_offline() else f"the hub ({host}:{port}) cannot be reached"
        raise ClipError(
            f"cannot load CLIP {model} weights {tag!r}: not in the cache {_hub_cache()} and {why}; "
            "run once online, or give a weights file (--clip-pretrained FILE)"
        )
    return contextlib.nullcontext()


class ClipEmbedder:
    """Embed image crops and texts into CLIP's joint space, L2-normalised.

    Args:
        model: an open-clip model name, e.g. ``ViT-B-32``, ``ViT-B-16``, ``MobileCLIP2-S0``.
        pretrained: an open-clip pretrained tag (``openai``, ``laion2b_s34b_b79k``...), the path
            of a weights file, or ``random`` (untrained weights, for tests and timing).
        device: ``cpu``, ``cuda`` or ``cuda:N``; CUDA runs under fp16 autocast.

    Attributes:
        size: side of the square RGB crops ``embed_images`` takes.
        image_forwards: image-encoder passes run so far (one per ``embed_images`` call).
        text_forwards: text-encoder passes run so far (texts seen before are cached).
    """

    def __init__(self, model: str = DEFAULT_MODEL, pretrained: str = DEFAULT_PRETRAINED, device: str = "cpu"):
        try:
            import open_clip
            import torch
        except ImportError as error:
            raise ClipError("text prompts need open-clip-torch: pip install 'fastsam-track[text]'") from error
        if model not in open_clip.list_models():
            raise ClipError(f"unknown CLIP model {model!r}; open-clip has e.g. ViT-B-32, ViT-B-16, MobileCLIP2-S0")
        weights: str | None = None if pretrained == RANDOM else pretrained
        tags = open_clip.list_pretrained_tags_by_model(model)
        if weights is not None and not Path(weights).is_file() and weights not in tags:
            known = ", ".join(tags) or "none"
            raise ClipError(f"CLIP {model} has no pretrained weights {pretrained!r} and no such file; tags: {known}")
        tagged = weights is not None and not Path(weights).is_file()
        loading = _check_weights(open_clip, model, weights) if weights is not None and tagged else None
        root = logging.getLogger()  # open-clip logs its download errors at the root logger; ours says it in one line
        was_disabled, root.disabled = root.disabled, True
        try:
            with loading or contextlib.nullcontext():
                network = open_clip.create_model(model, pretrained=weights, device=device)
        except RuntimeError as error:  # open-clip wraps download and cache misses in RuntimeError
            raise ClipError(
                f"cannot load CLIP {model} weights {pretrained!r}: not in the cache {_hub_cache()} and not "
                "downloadable (offline?); run once online, or give a weights file (--clip-pretrained FILE)"
            ) from error
        finally:
            root.disabled = was_disabled
        config = open_clip.get_model_preprocess_cfg(network)
        size = config["size"]
        self.size = int(size if isinstance(size, int) else size[0])
        self._mean = np.array(config["mean"], np.float32) * 255
        self._std = np.array(config["std"], np.float32) * 255
        self._network = network.eval()
        self._tokenizer = open_clip.get_tokenizer(model)
        self._torch, self._device = torch, device
        self._texts: dict[str, np.ndarray] = {}
        self.image_forwards = 0
        self.text_forwards = 0

    def _autocast(self):  # type: ignore[no-untyped-def]
        torch = self._torch
        cuda = self._device.startswith("cuda")
        return torch.autocast("cuda" if cuda else "cpu", dtype=torch.float16, enabled=cuda)

    def embed_images(self, crops: np.ndarray) -> np.ndarray:
        """(N, size, size, 3) uint8 RGB crops, N >= 1, to (N, D) float32 unit vectors, in one forward pass."""
        torch = self._torch
        pixels = (crops.astype(np.float32) - self._mean) / self._std
        tensor = torch.from_numpy(pixels).permute(0, 3, 1, 2).to(self._device)
        with torch.inference_mode(), self._autocast():
            features = self._network.encode_image(tensor, normalize=True)
        self.image_forwards += 1
        return features.float().cpu().numpy()

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        """(T, D) float32 unit vectors for ``texts``; each distinct text is encoded once."""
        torch = self._torch
        new = sorted({t for t in texts if t not in self._texts})
        if new:
            with torch.inference_mode(), self._autocast():
                features = self._network.encode_text(self._tokenizer(new).to(self._device), normalize=True)
            self.text_forwards += 1
            self._texts.update(zip(new, features.float().cpu().numpy(), strict=True))
        return np.array([self._texts[t] for t in texts], np.float32).reshape(len(texts), -1)
