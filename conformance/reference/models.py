"""The models the reference server serves, and what each one is for.

What lives here: the model table (`ref-chat` for chat, tools, structured output, logprobs and
vision, on /chat/completions, /responses and /completions; `ref-text`, the same without vision;
`ref-reason`, a reasoning model taking reasoning effort; `ref-image` for /images/generations;
`ref-embed` for 64-dimension embeddings) and the limits the server enforces for them. What does
not: the OpenAI wire shape of a model object (render.py).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "CHAT_MODEL", "EMBED_DIMENSIONS", "EMBED_MODEL", "IMAGE_MODEL", "MODELS", "REASON_MODEL", "TEXT_MODEL", "ModelCard",
    "default_model", "find_model",
]

CHAT_MODEL = "ref-chat"
EMBED_MODEL = "ref-embed"
TEXT_MODEL = "ref-text"
REASON_MODEL = "ref-reason"
IMAGE_MODEL = "ref-image"
EMBED_DIMENSIONS = 64
CONTEXT_TOKENS = 131_072  # prompt tokens a chat request may carry
MAX_COMPLETION_TOKENS = 16_384
EMBED_INPUT_TOKENS = 8_192  # per input, as OpenAI's embedding models
EMBED_REQUEST_TOKENS = 300_000  # summed over a request's inputs, as OpenAI's (CreateEmbeddingRequest.input)
CREATED = 1_700_000_000  # a fixed `created` so GET /models is byte-stable
OWNER = "openai-compat-conformance"


@dataclass(frozen=True)
class ModelCard:
    id: str
    kind: str  # "chat" | "embeddings" | "images"
    vision: bool = False  # reads image inputs (else a 400 for them)
    reasoning: bool = False  # takes reasoning effort and reports reasoning tokens


MODELS: tuple[ModelCard, ...] = (
    ModelCard(CHAT_MODEL, "chat", vision=True),
    ModelCard(EMBED_MODEL, "embeddings"),
    ModelCard(TEXT_MODEL, "chat"),
    ModelCard(REASON_MODEL, "chat", vision=True, reasoning=True),
    ModelCard(IMAGE_MODEL, "images"),
)


def find_model(model_id: str) -> ModelCard | None:
    return next((m for m in MODELS if m.id == model_id), None)


def default_model(kind: str) -> ModelCard:
    return next(m for m in MODELS if m.kind == kind)
