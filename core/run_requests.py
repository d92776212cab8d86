"""What a ``JobRun`` sends: the provider requests of a new job (``plan_requests``), or of a job picked up again
after its provider task outlived its run (``resume_requests``), and the ``JobContext`` each kind of job saves
its images with."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from core.jobs import JobRecord, ProviderTask
from core.providers.base import Provider, ProviderItem, TaskProvider
from core.requests import SEED_RANGE, Plan
from core.storage import JobContext


@dataclass(frozen=True)
class Request:
    """One provider request of a job: the index of its first image, how many it may make, how to send it, and
    the provider task it polls (a resumed one)."""

    first: int
    images: int
    send: Callable[[], AsyncIterator[ProviderItem]]
    task_id: str | None = None


def plan_requests(plan: Plan, provider: Provider) -> list[Request]:
    """The requests of a new job (see ``Plan.requests``); each take draws its own seed when it is sent."""
    return [Request(first, part.images, lambda part=part: provider.generate(with_seed(part)))
            for first, part in plan.requests()]


def resume_requests(tasks: list[ProviderTask], provider: TaskProvider) -> list[Request]:
    """The requests that poll again the tasks a parked (or interrupted) job still waits on."""
    return [Request(task.first, task.images, lambda task=task: provider.resume(task.task_id, images=task.images),
                    task_id=task.task_id)
            for task in tasks if task.state != "done"]


def plan_context(plan: Plan, job: JobRecord) -> JobContext:
    """A new job's context, from its plan."""
    return JobContext(job_id=job.id, prompt=plan.request.prompt, provider=plan.provider, model=plan.model.key,
                      model_id=plan.model.wire_name, parameters=plan.parameters(),
                      created_at=job.created_at or datetime.now(UTC))


def record_context(record: JobRecord) -> JobContext:
    """A resumed job's context, from what the store kept of it."""
    return JobContext(job_id=record.id, prompt=record.prompt, provider=record.provider, model=record.model,
                      model_id=str(record.parameters.get("model_id") or record.model), parameters=record.parameters,
                      created_at=record.created_at or datetime.now(UTC))


def with_seed(plan: Plan) -> Plan:
    """Models that take a seed get one even when none was asked, so every result can be reproduced (not an
    endpoint of unknown model: it may not take one)."""
    if plan.model.seed and not plan.model.pass_through and (plan.seed is None or plan.seed < 0):
        return dataclasses.replace(plan, seed=secrets.randbelow(SEED_RANGE[1]))
    return plan
