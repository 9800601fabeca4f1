"""Text prompts: CLIP picks the object once, the object tracker follows it.

FastSAM's text prompt embeds every mask's crop with CLIP and keeps the best match to the
text; run on every frame of a video that is a CLIP pass per frame. Here it runs on the
prompt's frame only and hands the chosen mask to the object tracker as a ``MaskPrompt``.
While a text-selected object is lost, CLIP looks for it again every ``retry_every``
frames, at most ``retry_limit`` times per loss, and takes a segment back only if it
matches the text nearly as well as the original choice did.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import supervision as sv

from fastsam_track.masks import masked_crops
from fastsam_track.trackers.prompting import PromptWarning
from fastsam_track.types import PROPAGATED, Frame, MaskPrompt, TextPrompt

__all__ = ["Embedder", "TextPrompter"]


class Embedder(Protocol):
    """Image crops and texts to unit vectors in one space (``ClipEmbedder``)."""

    size: int

    def embed_images(self, crops: np.ndarray) -> np.ndarray: ...
    def embed_texts(self, texts: list[str]) -> np.ndarray: ...


@dataclass
class _Query:
    """A text-selected object."""

    text: np.ndarray  # (D,) the text's embedding
    score: float  # similarity of the segment it selected on its frame
    missed: int = 0  # frames in a row without the object
    tries: int = 0  # CLIP passes spent looking for it since it was lost


class TextPrompter:
    """Resolve text prompts to masks, and look again for text-selected objects that are lost.

    Args:
        embedder: CLIP (``ClipEmbedder``) or anything with its two methods.
        min_area: segments smaller than this fraction of the frame are not candidates.
        max_crops: most candidates embedded per pass, the most confident first.
        retry_every: frames between searches for a lost object.
        retry_limit: searches per loss; then the object stays lost.
        accept: a segment found by a search must score at least this fraction of the
            similarity of the original choice.

    Example:
        >>> class Colours:  # a stand-in embedder: a crop's mean colour is its embedding
        ...     size = 8
        ...     def embed_images(self, crops): return crops.reshape(len(crops), -1, 3).mean(1) / 255
        ...     def embed_texts(self, texts): return np.array([[1.0, 0.0, 0.0] for _ in texts])
        >>> image = np.zeros((80, 80, 3), np.uint8); image[:, 40:] = (0, 0, 255)  # red, in BGR
        >>> masks = np.zeros((2, 8, 8), bool); masks[0, :, :4] = True; masks[1, :, 4:] = True
        >>> boxes = np.array([[0, 0, 40, 80], [40, 0, 80, 80]], np.float32)
        >>> segments = sv.Detections(xyxy=boxes, mask=masks, confidence=np.array([0.9, 0.8], np.float32))
        >>> [prompt] = TextPrompter(Colours()).prompts(Frame(0, image, 0.0), segments, [TextPrompt(0, 1, "red")])
        >>> bool(prompt.mask[:, 4:].all()), bool(prompt.mask[:, :4].any())
        (True, False)
    """

    def __init__(
        self,
        embedder: Embedder,
        *,
        min_area: float = 0.001,
        max_crops: int = 100,
        retry_every: int = 15,
        retry_limit: int = 8,
        accept: float = 0.9,
    ):
        self.embedder = embedder
        self.min_area, self.max_crops = min_area, max_crops
        self.retry_every, self.retry_limit, self.accept = retry_every, retry_limit, accept
        self.queries: dict[int, _Query] = {}

    def prompts(self, frame: Frame, segments: sv.Detections, due: list[TextPrompt]) -> list[MaskPrompt]:
        """Mask prompts for this frame: one per text prompt given on it, and one per lost
        object found again. At most one CLIP image pass, and none on most frames.

        Warns:
            PromptWarning: a text prompt has no candidate segment on its frame.
        """
        searches = [
            object_id
            for object_id, query in self.queries.items()
            if query.missed and query.missed % self.retry_every == 0 and query.tries < self.retry_limit
        ]
        if not due and not searches:
            return []
        candidates = self._candidates(segments, frame.shape)
        if len(candidates) == 0:
            for prompt in due:
                warnings.warn(
                    PromptWarning(prompt.object_id, prompt.frame, f"no segment to match {prompt.text!r}"), stacklevel=2
                )
            return []
        masks = np.asarray(segments.mask)[candidates]
        crops = masked_crops(frame.image[..., ::-1], masks, segments.xyxy[candidates], self.embedder.size)
        images = self.embedder.embed_images(crops)  # (C, D)
        found: list[MaskPrompt] = []
        if due:
            texts = self.embedder.embed_texts([p.text for p in due])  # (T, D)
            similarity = images @ texts.T  # (C, T)
            for k, prompt in enumerate(due):
                best = int(np.argmax(similarity[:, k]))
                self.queries[prompt.object_id] = _Query(texts[k], float(similarity[best, k]))
                found.append(MaskPrompt(frame.index, prompt.object_id, masks[best]))
        for object_id in searches:
            query = self.queries[object_id]
            query.tries += 1
            similarity = images @ query.text
            best = int(np.argmax(similarity))
            if similarity[best] >= self.accept * query.score:
                found.append(MaskPrompt(frame.index, object_id, masks[best]))
        return found

    def observe(self, objects: sv.Detections | None) -> None:
        """Note which text-selected objects the object tracker saw on this frame (a mask the optical flow
        carried because no segment confirmed it, ``data["propagated"]``, is not a sighting)."""
        seen: set[int] = set()
        if objects is not None and objects.tracker_id is not None:
            carried = np.asarray(objects.data.get(PROPAGATED, np.zeros(len(objects), bool)), bool)
            seen = set(objects.tracker_id[~carried].tolist())
        for object_id, query in self.queries.items():
            if object_id in seen:
                query.missed = query.tries = 0
            else:
                query.missed += 1

    def forget(self, object_id: int) -> None:
        """Stop looking for an object (it was removed)."""
        self.queries.pop(object_id, None)

    def _candidates(self, segments: sv.Detections, frame_shape: tuple[int, int]) -> np.ndarray:
        """(C,) indices of the segments worth embedding, most confident first."""
        masks = np.asarray(segments.mask)
        if len(masks) == 0:
            return np.zeros(0, int)
        areas = masks.sum(axis=(1, 2)) / (masks.shape[1] * masks.shape[2])
        confidence = segments.confidence if segments.confidence is not None else np.ones(len(masks))
        order = np.argsort(-confidence, kind="stable")
        return order[areas[order] >= self.min_area][: self.max_crops]
