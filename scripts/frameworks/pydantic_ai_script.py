"""The scripted model both pydantic-ai checks hand their agent (1.x and 2.x share these message types)."""

from __future__ import annotations

from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart, ToolReturnPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from scripted import as_text, job_of, next_call

seen: list[str] = []  # every tool answer the model was shown, in order


def _scripted(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    returns = [p for p in messages[-1].parts if isinstance(p, ToolReturnPart)]
    last = as_text(returns[-1].content) if returns else None
    if last is not None:
        seen.append(last)
    call = next_call(last)
    if call is None:
        return ModelResponse(parts=[TextPart("done: " + last)])
    return ModelResponse(parts=[ToolCallPart(call[0], call[1])])


MODEL = FunctionModel(_scripted)


def report(version: str, output: str) -> None:
    """Checks the job the model last saw succeeded, and says so."""
    job_id, status = job_of(seen[-1])
    assert status == "succeeded", seen[-1]
    print(f"pydantic-ai {version}: {len(seen)} tool answers, job {job_id} {status}; the model last saw: {seen[-1][:200]!r}")
    print("final output:", output[:120])
