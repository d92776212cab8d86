"""Who may generate where, and how much: allow-lists, cooldown, concurrent jobs, daily quotas (layer 1,
pure: no discord.py).

``Gatekeeper.admit`` is race-free, within one process and across processes (bot shards): the cooldown and the
concurrent-job cap are decided and marked in one step by ``core.pace.Pace`` (in this process by default, in
Redis when the backends share it), and the daily quotas are reserved atomically in the quota counters. What a
job did not produce is given back, and its running-job slot freed, by ``Reservation.settle``.

A ``Place`` describes the asker, a ``Refusal`` says why not (kindly, with when to try again) and is shown
ephemerally by the caller.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bots.discord.stores import QuotaCounters
from bots.discord.wording import relative_time
from core.clocks import WallClock
from core.pace import LocalPace, Pace, PaceGrant, PaceRefusal


@dataclass(frozen=True)
class PolicyConfig:
    """The community's rules. Empty allow-lists allow everything; a limit of 0 means no limit."""

    allowed_guilds: frozenset[int] = frozenset()
    allowed_channels: frozenset[int] = frozenset()
    generator_roles: tuple[str, ...] = ()  # role ids or names (case-insensitive)
    allow_dms: bool = True
    nsfw_channels_only: bool = False
    always_spoiler: bool = False
    cooldown_seconds: float = 10.0
    max_concurrent_jobs: int = 3
    user_daily_images: int = 50
    guild_daily_images: int = 500
    owner_only_buttons: bool = False  # only a job's requester may reroll, vary, remix or edit from its buttons
    mod_log_channel: int | None = None  # every job is announced there (requester, prompt, link)

    @property
    def server_rules(self) -> bool:
        """Any rule that narrows where, or by whom, images are made."""
        return bool(
            self.allowed_guilds or self.allowed_channels or self.generator_roles or self.nsfw_channels_only
        )

    @property
    def dm_needs_membership(self) -> bool:
        """In a DM the asker must be found in a server first: the server rules are checked there."""
        return bool(self.allowed_guilds or self.generator_roles)


@dataclass(frozen=True)
class Place:
    """Who asks, and where. For a direct message under server rules, ``guild_id`` and the roles are those of
    the server where the asker was found a member (``dm`` stays true); otherwise a DM has no guild."""

    user_id: int
    guild_id: int | None = None
    channel_id: int | None = None
    role_ids: frozenset[int] = frozenset()
    role_names: frozenset[str] = frozenset()
    channel_nsfw: bool = False
    dm: bool = False

    @property
    def is_dm(self) -> bool:
        return self.dm or self.guild_id is None


@dataclass(frozen=True)
class Refusal:
    """Why a request is not run; ``message`` is shown to the asker only."""

    reason: (
        str  # guild | channel | role | dm | nsfw_channel | cooldown | concurrency | user_quota | guild_quota
    )
    message: str
    retry_at: datetime | None = None


@dataclass(frozen=True)
class QuotaStatus:
    """What ``/quota`` shows."""

    day: str
    user_used: int
    user_limit: int
    guild_used: int | None
    guild_limit: int
    resets_at: datetime
    cooldown_until: datetime | None
    active_jobs: int
    max_concurrent_jobs: int


def user_key(user_id: int) -> str:
    return f"discord:user:{user_id}"


def guild_key(guild_id: int) -> str:
    return f"discord:guild:{guild_id}"


def next_reset(now: datetime) -> datetime:
    """Daily quotas reset at midnight UTC."""
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today + timedelta(days=1)


def quota_day(now: datetime) -> str:
    return now.astimezone(UTC).date().isoformat()


class Gatekeeper:
    """Enforces a ``PolicyConfig``: quotas through the counters, cooldowns and running-job caps through ``pace``
    (both shared by every process on the same backends; ``pace`` defaults to this process only)."""

    def __init__(
        self, config: PolicyConfig, *, counters: QuotaCounters, clock: WallClock, pace: Pace | None = None
    ) -> None:
        self.config = config
        self._counters = counters
        self._clock = clock
        self._pace: Pace = pace if pace is not None else LocalPace()

    def check_place(self, place: Place) -> Refusal | None:
        """The allow-lists: guild, DMs, channel, NSFW channel, roles. The server rules hold in DMs too: a DM is
        refused when a rule needs a channel (allowed channels, NSFW only), and otherwise judged in the server
        where the asker was found (``Place.guild_id``)."""
        cfg = self.config
        if place.is_dm:
            refusal = self._check_dm(place)
            if refusal is not None or place.guild_id is None:
                return refusal
        if cfg.allowed_guilds and place.guild_id not in cfg.allowed_guilds:
            return Refusal(
                "guild",
                "Image generation isn't enabled on this server. A server admin can ask the "
                "bot's owner to turn it on.",
            )
        if not place.is_dm and cfg.allowed_channels and place.channel_id not in cfg.allowed_channels:
            where = ", ".join(f"<#{c}>" for c in sorted(cfg.allowed_channels)[:5])
            return Refusal("channel", f"Images can't be made in this channel. Try {where}.")
        if not place.is_dm and cfg.nsfw_channels_only and not place.channel_nsfw:
            return Refusal(
                "nsfw_channel", "On this server images can only be made in age-restricted channels."
            )
        if cfg.generator_roles and not self._has_role(place):
            return Refusal(
                "role",
                f"Making images here needs one of these roles: {self._role_list()}. Ask a moderator if "
                "you think you should have one.",
            )
        return None

    def _check_dm(self, place: Place) -> Refusal | None:
        cfg = self.config
        if not cfg.allow_dms:
            return Refusal(
                "dm", "I don't make images in direct messages here. Try a server channel where I'm installed."
            )
        if cfg.allowed_channels or cfg.nsfw_channels_only:
            return Refusal(
                "dm",
                "I don't make images in direct messages here: this bot's rules keep them in certain server "
                "channels. Try one of those.",
            )
        if cfg.dm_needs_membership and place.guild_id is None:
            roles = f" with one of the roles {self._role_list()}" if cfg.generator_roles else ""
            return Refusal(
                "dm",
                f"I make images in direct messages only for members of a server where I'm allowed{roles}. "
                "Try a server channel where I'm installed.",
            )
        return None

    def _role_list(self) -> str:
        return ", ".join(f"<@&{r}>" if r.isdigit() else f"**{r}**" for r in self.config.generator_roles[:5])

    def _has_role(self, place: Place) -> bool:
        ids = {int(r) for r in self.config.generator_roles if r.isdigit()}
        names = {r.casefold() for r in self.config.generator_roles if not r.isdigit()}
        return bool(ids & place.role_ids) or bool(names & {n.casefold() for n in place.role_names})

    async def admit(self, place: Place, *, images: int) -> Reservation | Refusal:
        """Check everything and reserve ``images`` of the daily quotas; a ``Reservation`` must be settled.

        Raises:
            BackendUnavailableError: the shared pace (Redis) or the counters do not answer.
        """
        refusal = self.check_place(place)
        if refusal is not None:
            return refusal
        now, cfg = self._clock(), self.config
        # Decided and marked in one step, so concurrent presses (in any process) see this one.
        grant = await self._pace.start(
            user_key(place.user_id), now=now, cooldown=cfg.cooldown_seconds, max_active=cfg.max_concurrent_jobs
        )
        if isinstance(grant, PaceRefusal):
            return self._pace_refusal(grant)
        try:
            refusal = await self._reserve(place, images=images, now=now)
        except BaseException:
            await self._pace.undo(grant)
            raise
        if refusal is not None:
            await self._pace.undo(grant)
            return refusal
        return Reservation(self, place=place, images=images, day=quota_day(now), grant=grant)

    def _pace_refusal(self, refused: PaceRefusal) -> Refusal:
        if refused.reason == "cooldown":
            until = refused.retry_at
            when = relative_time(until) if until is not None else "in a moment"
            return Refusal("cooldown", f"Slow down a little: you can ask again {when}.", retry_at=until)
        return Refusal(
            "concurrency",
            f"You already have {refused.active} jobs running (the "
            f"limit is {self.config.max_concurrent_jobs}). Try again when one finishes.",
        )

    async def _reserve(self, place: Place, *, images: int, now: datetime) -> Refusal | None:
        cfg, day = self.config, quota_day(now)
        reset = next_reset(now)
        key = user_key(place.user_id)
        if cfg.user_daily_images and not await self._counters.reserve_quota(
            key=key, day=day, amount=images, limit=cfg.user_daily_images
        ):
            used = await self._counters.quota_used(key=key, day=day)
            return Refusal(
                "user_quota",
                _quota_message("You have", used, cfg.user_daily_images, images, reset),
                retry_at=reset,
            )
        if cfg.guild_daily_images and place.guild_id is not None:
            gkey = guild_key(place.guild_id)
            if not await self._counters.reserve_quota(
                key=gkey, day=day, amount=images, limit=cfg.guild_daily_images
            ):
                if cfg.user_daily_images:
                    await self._counters.release_quota(key=key, day=day, amount=images)
                used = await self._counters.quota_used(key=gkey, day=day)
                return Refusal(
                    "guild_quota",
                    _quota_message("This server has", used, cfg.guild_daily_images, images, reset),
                    retry_at=reset,
                )
        return None

    async def release(self, place: Place, *, day: str, images: int) -> None:
        """Give back ``images`` of a reservation made on ``day``."""
        if images <= 0:
            return
        if self.config.user_daily_images:
            await self._counters.release_quota(key=user_key(place.user_id), day=day, amount=images)
        if self.config.guild_daily_images and place.guild_id is not None:
            await self._counters.release_quota(key=guild_key(place.guild_id), day=day, amount=images)

    async def job_done(self, grant: PaceGrant) -> None:
        """A job admitted with ``grant`` ended: free its running-job slot (the cooldown stays)."""
        await self._pace.done(grant)

    async def status(self, place: Place) -> QuotaStatus:
        """Today's usage for ``/quota``."""
        now = self._clock()
        day = quota_day(now)
        user_used = await self._counters.quota_used(key=user_key(place.user_id), day=day)
        guild_used = None
        if place.guild_id is not None:
            guild_used = await self._counters.quota_used(key=guild_key(place.guild_id), day=day)
        pace = await self._pace.status(user_key(place.user_id), now=now, cooldown=self.config.cooldown_seconds)
        return QuotaStatus(
            day=day,
            user_used=user_used,
            user_limit=self.config.user_daily_images,
            guild_used=guild_used,
            guild_limit=self.config.guild_daily_images,
            resets_at=next_reset(now),
            cooldown_until=pace.cooldown_until,
            active_jobs=pace.active,
            max_concurrent_jobs=self.config.max_concurrent_jobs,
        )


def _quota_message(who: str, used: int, limit: int, asked: int, reset: datetime) -> str:
    left = max(0, limit - used)
    if left:
        return (
            f"{who} {left} of {limit} images left today and this asks for {asked}. Ask for fewer, or try "
            f"again when the quota resets {relative_time(reset)}."
        )
    return f"{who} used all {limit} images for today. The quota resets {relative_time(reset)}."


@dataclass(eq=False)
class Reservation:
    """An admitted generation: holds a concurrent-job slot and ``images`` of the daily quotas."""

    gate: Gatekeeper
    place: Place
    images: int
    day: str
    grant: PaceGrant
    _settled: bool = field(default=False, repr=False)

    async def settle(self, *, produced: int) -> None:
        """The job ended having made ``produced`` images: free the slot, return the rest (idempotent)."""
        if self._settled:
            return
        self._settled = True
        try:
            await self.gate.job_done(self.grant)
        finally:
            await self.gate.release(self.place, day=self.day, images=self.images - produced)


def describe_policy(config: PolicyConfig) -> str:
    """The policy in force, one line, for the start-up log."""

    def ids(values: frozenset[int]) -> str:
        return ",".join(str(v) for v in sorted(values)) or "any"

    if not config.allow_dms:
        dms = "off"
    elif config.allowed_channels or config.nsfw_channels_only:
        dms = "off (a channel rule is set)"
    elif config.dm_needs_membership:
        dms = "members of an allowed server only (its rules and quota apply)"
    else:
        dms = "on"
    parts = [
        f"guilds={ids(config.allowed_guilds)}",
        f"channels={ids(config.allowed_channels)}",
        f"roles={','.join(config.generator_roles) or 'any'}",
        f"DMs={dms}",
        f"NSFW channels only={'yes' if config.nsfw_channels_only else 'no'}",
        f"always spoiler={'yes' if config.always_spoiler else 'no'}",
        f"cooldown={config.cooldown_seconds:g}s",
        f"concurrent jobs per user={config.max_concurrent_jobs or 'no limit'}",
        f"images per user per day={config.user_daily_images or 'no limit'}",
        f"images per server per day={config.guild_daily_images or 'no limit'}",
        f"buttons={'requester only' if config.owner_only_buttons else 'anyone who can see the job'}",
        f"mod log={config.mod_log_channel or 'off'}",
    ]
    return "; ".join(parts)
