"""What a Chanjing task query says, and what a finished task means: its images, its failures, or the error of a
task that produced nothing (billing and moderation told apart by the provider's words)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from core.errors import ContentRejectedError, FailureKind, ProviderError, ProviderQuotaError, ProviderResponseError
from core.providers.base import ImagePayload, ProviderItem
from core.providers.chanjing_token import PROVIDER
from core.results import ImageFailure, Usage

SUCCESS = "Success"
FAILED = frozenset({"Error", "Fail"})
BILLING_WORDS = ("扣费失败", "余额不足", "蝉豆不足")
MODERATION_WORDS = ("审核", "敏感", "违规", "违禁", "violat", "sensitive", "moderation")


@dataclass(frozen=True)
class ChanjingTask:
    """One answer of the task query."""

    unique_id: str
    progress_desc: str
    err_msg: str
    output_url: tuple[str, ...]


def parse_task(data: Any, task_id: str) -> ChanjingTask:
    """The task query's ``data``.

    Raises:
        ProviderResponseError: it is not a task (retryable: the next poll may read fine).
    """
    urls = data.get("output_url") if isinstance(data, dict) else None
    status = data.get("progress_desc") if isinstance(data, dict) else None
    if not isinstance(status, str) or not isinstance(urls, list | None) or \
            not all(isinstance(u, str) and u for u in urls or ()):
        raise ProviderResponseError(f"Chanjing's answer about task {task_id} could not be read",
                                    provider=PROVIDER, request_id=task_id, retryable=True)
    return ChanjingTask(unique_id=task_id, progress_desc=status, err_msg=str(data.get("err_msg") or ""),
                        output_url=tuple(urls or ()))


def task_outcome(task: ChanjingTask, *, expected: int) -> Iterator[ProviderItem]:
    """Images, failures and usage of a finished task; raises when a failed task produced nothing.

    Chanjing does not say which image of a group failed: the URLs it returns take the first indexes.
    """
    if task.progress_desc != SUCCESS and not task.output_url:
        raise task_error(task)
    for index, url in enumerate(task.output_url):
        yield ImagePayload(index=index, url=url)
    reason = task.err_msg or "Chanjing returned fewer images than requested"
    kind = FailureKind.CONTENT_REJECTED if mentions(reason, MODERATION_WORDS) else FailureKind.PROVIDER_ERROR
    for index in range(len(task.output_url), expected):
        yield ImageFailure(index=index, code="NotProduced", message=f"Chanjing did not produce this image: "
                           f"{reason}", kind=kind)
    yield Usage(generated_images=len(task.output_url))


def task_error(task: ChanjingTask) -> Exception:
    reason = task.err_msg or "no reason given"
    what = f"Chanjing task {task.unique_id} ended with {task.progress_desc}"
    if mentions(reason, BILLING_WORDS):
        return ProviderQuotaError(f"{what}: the account could not pay for it ({reason}); top up the "
                                  "account's balance (蝉豆) in the Chanjing console", provider=PROVIDER,
                                  code=task.progress_desc, request_id=task.unique_id)
    if mentions(reason, MODERATION_WORDS):
        return ContentRejectedError(f"{what}: moderation refused it ({reason}); rephrase the prompt or "
                                    "change the reference images", provider=PROVIDER, code=task.progress_desc,
                                    request_id=task.unique_id)
    return ProviderError(f"{what}: {reason}; try again, or try another model", provider=PROVIDER,
                         code=task.progress_desc, request_id=task.unique_id, retryable=False)


def mentions(text: str, words: tuple[str, ...]) -> bool:
    lowered = text.lower()
    return any(word in lowered for word in words)
