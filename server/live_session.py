"""LiveSession: one class as it runs — attendance, engagement and class activity, as events.

It observes the session's room (media.RoomObserver), takes the client signals the signaling
socket passes on (chat, hands, reactions, polls, visibility, quality), and publishes every fact
on the event bus. Redis writes and event publishing run in one ordered job queue, so events
leave in the order things happened. LiveSessions owns the live sessions of this node and the
durable timers (no-show check, scheduled end) that run whether or not anyone opens the room.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any, Awaitable, Callable, Optional

import redis.asyncio as aioredis

from engagement.activity import ActivityTracker
from engagement.attention import CameraWatcher, FaceCounter, FrameFindings
from engagement.attendance import AttendancePolicy, AttendanceRecord, summarise
from engagement.hands import HandQueue
from engagement.polls import Poll, PollInvalid
from events import Event, EventType
from events.bus import EventBus
from events.event import iso, new_event_id, parse_iso
from media import SFU, Admission, MediaError, Participant, PermissionDenied, Publication, Room, RoomObserver, Source
from media.exceptions import NotFound
from media.video_tap import FrameWorker

from recording.export import EXPORT_FILE
from recording.manifest import delete_media
from recording.storage import RecordingStorage

from .attendance_store import AttendanceStore
from .live_recording import SessionRecording
from .live_transcription import SessionTranscripts, SpeechServices
from .sessions import Session, SessionStore
from .timers import DurableTimers

logger = logging.getLogger(__name__)

REACTIONS = ("👍", "👏", "😂", "😮", "❤️", "🎉", "🤔")
MAX_CHAT_CHARS = 2000
QUALITY_INTERVAL_S = 10.0
# How long a shutdown waits for a session's queued events to be published (or outboxed).
CLOSE_TIMEOUT_S = 5.0

Job = Callable[[], Awaitable[None]]


def attendance_policy(session: Session) -> AttendancePolicy:
    return AttendancePolicy(parse_iso(session.scheduled_start), parse_iso(session.scheduled_end),
                            session.settings.late_after_s, session.settings.no_show_after_s)


class LiveSession(RoomObserver):
    def __init__(self, session: Session, bus: EventBus, redis: aioredis.Redis,
                 snapshot_interval_s: float, panel_interval_s: float,
                 video_sample_interval_s: float, frames: FrameWorker, faces: FaceCounter,
                 speech: SpeechServices, storage: RecordingStorage, session_dir: Path) -> None:
        self.session = session
        self.room: Optional[Room] = None
        # Taken over from a process that died mid-class, for the room this one opens.
        self.carried_admission: Optional[Admission] = None
        self.policy = attendance_policy(session)
        self.attendance = AttendanceStore(redis, session.id)
        self.activity = ActivityTracker()
        self.hands = HandQueue()
        self.poll: Optional[Poll] = None
        self.opened_at: Optional[float] = None
        self._bus = bus
        self._talk_time_closed: dict[str, float] = {}
        self._turns_closed: dict[str, int] = {}
        self._speaking_since: dict[str, float] = {}
        self._last_quality: dict[str, float] = {}
        self._video_sample_interval_s = video_sample_interval_s
        self._frames = frames
        self._faces = faces
        self._camera_state: dict[str, FrameFindings] = {}
        self._jobs: asyncio.Queue[Optional[Job]] = asyncio.Queue()
        self._worker = asyncio.ensure_future(self._run_jobs())
        self.transcripts = SessionTranscripts(session.id, session_dir, speech, self.emit,
                                              self._jobs.put_nowait, self._broadcast,
                                              lambda: self.opened_at)
        self.recording = SessionRecording(session.id, session_dir, storage, self.emit, self._broadcast,
                                          lambda: self.opened_at)
        self._tickers = [
            asyncio.ensure_future(self._every(snapshot_interval_s, self._snapshot_all)),
            asyncio.ensure_future(self._every(panel_interval_s, self._send_panel)),
        ]

    # -- events ---------------------------------------------------------------------------

    def emit(self, event_type: EventType, data: dict[str, Any],
             participant: Optional[str] = None, at: Optional[float] = None) -> Event:
        event = Event(event_type, self.session.id, data, participant, at or time.time())
        self._jobs.put_nowait(lambda: self._bus.publish(event))
        return event

    def signal(self, identity: str, signal: str, **fields: Any) -> None:
        self.emit(EventType.ENGAGEMENT_SIGNAL, {"signal": signal, **fields}, identity)

    async def _run_jobs(self) -> None:
        while (job := await self._jobs.get()) is not None:
            try:
                await job()
            except Exception:
                logger.exception("session %s: a job failed", self.session.id)

    async def drain(self) -> None:
        done = asyncio.get_running_loop().create_future()

        async def mark() -> None:
            done.set_result(None)

        self._jobs.put_nowait(mark)
        await done

    # -- the room -------------------------------------------------------------------------

    def open_room(self, sfu: SFU) -> Room:
        if self.room is None or self.room.closed:
            self.room = sfu.room(self.session.id, self.session.title, observer=self)
            if self.carried_admission is not None:
                self.room.restore_admission(self.carried_admission)
                self.carried_admission = None
        return self.room

    def joined_extra(self, identity: str, moderator: bool) -> dict[str, Any]:
        """What a newcomer's `joined` message carries besides the room itself: the hands
        queue and the running poll (with the answer this identity gave before a reload)."""
        poll = None
        if self.poll is not None:
            poll = {**self._poll_for(moderator), "your_answer": self.poll.answers.get(identity)}
        return {"hands": self.hands.queue(), "poll": poll,
                "transcription": self.transcripts.transcribing, "recording": self.recording.state()}

    def _poll_for(self, moderator: bool) -> dict[str, Any]:
        """The running poll as a participant sees it: moderators also see the correct answer."""
        assert self.poll is not None
        poll = self.poll.public()
        return {**poll, "correct": self.poll.correct} if moderator else poll

    def participant_joined(self, participant: Participant, rejoin: bool) -> None:
        now = time.time()
        if self.opened_at is None:
            self.opened_at = now
            self.emit(EventType.SESSION_STARTED, {
                "title": self.session.title, "scheduled_start": self.session.scheduled_start,
                "scheduled_end": self.session.scheduled_end, "started_at": iso(now)}, at=now)
            if self.session.settings.recording:
                self.recording.start(None, [])
        activity = self.activity.activity(participant.identity, participant.name,
                                          participant.role.value)
        activity.visible.set(True, now)
        if participant.connectivity.lost:
            return  # back from a network drop: present again once its media is (connection_restored)
        self._enter(participant, rejoin, now)

    def connection_restored(self, participant: Participant) -> None:
        self._enter(participant, True, time.time())

    def _enter(self, participant: Participant, rejoin: bool, now: float) -> None:
        # The id now: events emitted while the job waits on Redis must sort after this one.
        event_id = new_event_id(now)
        self._jobs.put_nowait(lambda: self._record_join(participant, rejoin, now, event_id))

    async def _record_join(self, participant: Participant, rejoin: bool, now: float, event_id: str) -> None:
        record = await self.attendance.get(participant.identity) or AttendanceRecord(
            participant.identity, participant.name, participant.role.value)
        first = record.first_join is None
        # A rejoin is per person, not per room: after a restart the room is new, the record is not.
        rejoin = record.join(now) or rejoin
        await self.attendance.save(record)
        await self._bus.publish(Event(EventType.PARTICIPANT_JOINED, self.session.id, {
            "name": participant.name, "role": participant.role.value,
            "participant_sid": participant.sid, "rejoin": rejoin}, participant.identity, now, event_id))
        if first and participant.role.value == "student" and now > self.policy.late_at:
            await self._bus.publish(Event(EventType.ATTENDANCE_LATE, self.session.id, {
                "name": participant.name, "joined_at": iso(now),
                "late_by_s": round(now - self.policy.scheduled_start, 3),
                "late_after_s": self.policy.late_after_s}, participant.identity, now))

    def participant_left(self, participant: Participant, reason: str) -> None:
        now = time.time()
        activity = self.activity.activity(participant.identity)
        activity.visible.set(False, now)
        # A reload (replaced) is the same person coming straight back: the hand stays up.
        if reason != "replaced" and self.hands.lower(participant.identity):
            self._broadcast_hands()
        if participant.connectivity.lost:
            return  # its leave was recorded when its network went (connection_lost)
        # A connection that went silent before its socket closed (or before the client
        # reconnected, replacing it) left when it went silent: its network dropped.
        silent_since = participant.connectivity.absent_since(now)
        if silent_since is not None and reason == "replaced":
            reason = "connection_lost"
        self._leave(participant, reason, silent_since or now)

    def connection_lost(self, participant: Participant) -> None:
        self._leave(participant, "connection_lost", participant.connectivity.lost_since or time.time())

    def _leave(self, participant: Participant, reason: str, at: float) -> None:
        event_id = new_event_id(at)  # taken now, like a join's
        self._jobs.put_nowait(lambda: self._record_leave(participant, reason, at, event_id))

    async def _record_leave(self, participant: Participant, reason: str, now: float, event_id: str) -> None:
        record = await self.attendance.get(participant.identity)
        duration = 0.0
        if record is not None:
            duration = record.leave(now)
            await self.attendance.save(record)
        await self._bus.publish(Event(EventType.PARTICIPANT_LEFT, self.session.id, {
            "participant_sid": participant.sid, "reason": reason,
            "duration_s": round(duration, 3)}, participant.identity, now, event_id))

    def track_published(self, participant: Participant, publication: Publication) -> None:
        self.emit(EventType.TRACK_PUBLISHED, {"track_sid": publication.sid, "kind": publication.kind,
                                              "source": publication.source.value}, participant.identity)
        if publication.source is Source.CAMERA:
            if not publication.muted:
                self._camera(participant.identity, True)
            self._watch_camera(participant.identity, publication)
        elif publication.source is Source.MICROPHONE:
            self.transcripts.attach(participant, publication)
        self.recording.attach(participant, publication)

    def track_unpublished(self, participant: Participant, publication: Publication) -> None:
        identity = participant.identity
        self.recording.detach(publication)
        self.emit(EventType.TRACK_UNPUBLISHED, {"track_sid": publication.sid, "kind": publication.kind,
                                                "source": publication.source.value}, identity)
        if publication.source is Source.MICROPHONE:
            self.transcripts.detach(publication)
            timer = publication.talk_timer
            self._talk_time_closed[identity] = self._talk_time_closed.get(identity, 0.0) + timer.talk_time_s
            self._turns_closed[identity] = self._turns_closed.get(identity, 0) + timer.turns
        elif publication.source is Source.CAMERA:
            self._camera(identity, False)

    def track_muted(self, participant: Participant, publication: Publication,
                    muted: bool, by: Optional[str]) -> None:
        if publication.source is Source.MICROPHONE:
            fields = {"by": by} if by else {}
            self.signal(participant.identity, "mic_muted" if muted else "mic_unmuted", **fields)
        elif publication.source is Source.CAMERA:
            self._camera(participant.identity, not muted)

    def _camera(self, identity: str, on: bool) -> None:
        if self.activity.activity(identity).camera.set(on, time.time()):
            self.signal(identity, "camera_on" if on else "camera_off")

    def _watch_camera(self, identity: str, publication: Publication) -> None:
        watcher = CameraWatcher(self._faces)
        loop = asyncio.get_running_loop()

        def on_frame(gray: Any) -> None:  # on the frame worker's thread
            findings = watcher.examine(gray)
            loop.call_soon_threadsafe(self._camera_findings, identity, findings)

        publication.sample_video(self._video_sample_interval_s, on_frame, self._frames)

    def _camera_findings(self, identity: str, findings: FrameFindings) -> None:
        """Signals on changes only: the picture going black or frozen and back, a face
        appearing or leaving the frame."""
        before = self._camera_state.get(identity)
        self._camera_state[identity] = findings
        was_bad = before is not None and (before.black or before.frozen)
        if findings.black and not (before and before.black):
            self.signal(identity, "video_black", mean_luma=findings.mean_luma)
        elif findings.frozen and not findings.black and not (before and before.frozen):
            self.signal(identity, "video_frozen", change=findings.change)
        elif was_bad and not findings.black and not findings.frozen:
            self.signal(identity, "video_ok")
        if not findings.black:
            has_face = findings.faces > 0
            had_face = before is not None and not before.black and before.faces > 0
            if before is None or before.black or has_face != had_face:
                self.signal(identity, "face_present" if has_face else "face_absent",
                            faces=findings.faces)

    def speaking_changed(self, identity: str, speaking: bool) -> None:
        now = time.time()
        if speaking:
            self._speaking_since[identity] = now
            self.signal(identity, "speaking_started")
        else:
            started = self._speaking_since.pop(identity, now)
            self.signal(identity, "speaking_stopped", duration_s=round(now - started, 3))

    # -- client signals -------------------------------------------------------------------

    def chat(self, sender: Participant, text: str, to: Optional[str]) -> None:
        text = text.strip()
        if not text or len(text) > MAX_CHAT_CHARS:
            raise MediaError(f"a chat message must be 1-{MAX_CHAT_CHARS} characters")
        room = self._require_room()
        message = {"type": "chat", "message_id": "msg_" + new_event_id()[4:],
                   "from": sender.identity, "name": sender.name, "text": text, "to": to,
                   "ts": iso(time.time())}
        if to is None:
            room.broadcast(message)
        else:
            recipient = room.participants.get(to)
            if recipient is None:
                raise NotFound(f"no participant {to!r} in this room")
            if not (sender.permissions.moderate or recipient.permissions.moderate):
                raise PermissionDenied("private messages go to or come from a moderator")
            recipient.signal(message)
            sender.signal(message)
        self.activity.activity(sender.identity).messages += 1
        self.signal(sender.identity, "chat_message", message_id=message["message_id"],
                    text=text, to=to)

    def hand(self, participant: Participant, raised: bool) -> None:
        now = time.time()
        if raised and self.hands.raise_hand(participant.identity, participant.name, now):
            self.activity.activity(participant.identity).hands += 1
            self.signal(participant.identity, "hand_raised")
            self._broadcast_hands()
        elif not raised and self.hands.lower(participant.identity):
            self.signal(participant.identity, "hand_lowered")
            self._broadcast_hands()

    def lower_hand(self, moderator: Participant, identity: str) -> None:
        if not moderator.permissions.moderate:
            raise PermissionDenied("lowering someone's hand needs the moderate permission")
        if not self.hands.lower(identity):
            raise NotFound(f"{identity!r} has no hand raised")
        self.signal(identity, "hand_lowered", by=moderator.identity)
        self._broadcast_hands()

    def _broadcast_hands(self) -> None:
        self._broadcast({"type": "hands", "queue": self.hands.queue()})

    def _broadcast(self, message: dict[str, Any]) -> None:
        if self.room is not None and not self.room.closed:
            self.room.broadcast(message)

    async def set_recording(self, moderator: Optional[Participant], on: bool) -> bool:
        """Start or stop recording (a moderator, or the API with `moderator` None). Returns
        whether that changed anything."""
        if moderator is not None and not moderator.permissions.moderate:
            raise PermissionDenied("starting or stopping the recording needs the moderate permission")
        by = moderator.identity if moderator is not None else None
        if not on:
            return await self.recording.stop(by, "stopped")
        room = self._require_room()
        return self.recording.start(by, [(participant, publication)
                                         for participant in room.participants.values()
                                         for publication in participant.publications.values()])

    def reaction(self, participant: Participant, emoji: str) -> None:
        if emoji not in REACTIONS:
            raise MediaError(f"reactions are {' '.join(REACTIONS)}")
        self._require_room().broadcast({"type": "reaction", "identity": participant.identity,
                                        "emoji": emoji, "ts": iso(time.time())})
        self.activity.activity(participant.identity).reactions += 1
        self.signal(participant.identity, "reaction", emoji=emoji)

    def poll_create(self, moderator: Participant, question: str, options: list[str],
                    correct: Optional[int]) -> Poll:
        if not moderator.permissions.moderate:
            raise PermissionDenied("polls need the moderate permission")
        if self.poll is not None:
            raise MediaError("a poll is already running: end it first")
        try:
            poll = Poll(question, options, correct, moderator.identity)
        except PollInvalid as exc:
            raise MediaError(str(exc)) from exc
        self.poll = poll
        self.activity.polls_asked += 1
        self.emit(EventType.POLL_STARTED, {"poll_id": poll.id, "question": poll.question,
                                           "options": poll.options, "correct": poll.correct},
                  moderator.identity)
        for participant in self._require_room().participants.values():
            participant.signal({"type": "poll_started",
                                "poll": self._poll_for(participant.permissions.moderate)})
        self._send_poll_results(poll)
        return poll

    def poll_answer(self, participant: Participant, poll_id: str, option: int) -> None:
        poll = self._running_poll(poll_id)
        try:
            correct = poll.answer(participant.identity, option)
        except PollInvalid as exc:
            raise MediaError(str(exc)) from exc
        activity = self.activity.activity(participant.identity)
        activity.polls_answered.add(poll.id)
        if correct:
            activity.polls_correct.add(poll.id)
        else:
            activity.polls_correct.discard(poll.id)
        self.signal(participant.identity, "poll_answered", poll_id=poll.id, option=option,
                    correct=correct)
        self._send_poll_results(poll)

    def poll_end(self, moderator: Participant, poll_id: str) -> None:
        if not moderator.permissions.moderate:
            raise PermissionDenied("polls need the moderate permission")
        self._end_poll(self._running_poll(poll_id), moderator.identity)

    def _end_poll(self, poll: Poll, by: str) -> None:
        self.poll = None
        counts = poll.counts()
        self.emit(EventType.POLL_ENDED, {
            "poll_id": poll.id, "question": poll.question, "options": poll.options,
            "correct": poll.correct, "counts": counts,
            "answers": [{"identity": identity, "option": option, "correct": poll.is_correct(option)}
                        for identity, option in poll.answers.items()]}, by)
        if self.room is not None:
            for participant in self.room.participants.values():
                participant.signal({"type": "poll_ended", "poll_id": poll.id, "counts": counts,
                                    "correct": poll.correct,
                                    "your_answer": poll.answers.get(participant.identity)})

    def _running_poll(self, poll_id: str) -> Poll:
        if self.poll is None or self.poll.id != poll_id:
            raise NotFound(f"no running poll {poll_id!r}")
        return self.poll

    def _send_poll_results(self, poll: Poll) -> None:
        if self.room is None:
            return
        eligible = sum(1 for p in self.room.participants.values() if not p.permissions.moderate)
        message = {"type": "poll_results", "poll_id": poll.id, "counts": poll.counts(),
                   "answered": len(poll.answers), "eligible": eligible}
        for participant in self.room.participants.values():
            if participant.permissions.moderate:
                participant.signal(message)

    def visibility(self, participant: Participant, visible: bool) -> None:
        if self.activity.activity(participant.identity).visible.set(visible, time.time()):
            self.signal(participant.identity, "tab_visible" if visible else "tab_hidden")

    def quality(self, participant: Participant, rtt_ms: Optional[float],
                packet_loss: Optional[float], jitter_ms: Optional[float]) -> None:
        now = time.monotonic()
        if now - self._last_quality.get(participant.identity, -QUALITY_INTERVAL_S) < QUALITY_INTERVAL_S * 0.9:
            return  # at most one report per 10 s is recorded
        self._last_quality[participant.identity] = now
        self.signal(participant.identity, "connection_quality", rtt_ms=rtt_ms,
                    packet_loss=packet_loss, jitter_ms=jitter_ms)

    def _require_room(self) -> Room:
        if self.room is None:
            raise MediaError("the class is not live")
        return self.room

    # -- engagement totals ----------------------------------------------------------------

    def engagement_totals(self) -> dict[str, Any]:
        talk, turns = self.talk_times()
        return self.activity.totals(time.time(), talk, turns)

    def carry_engagement(self, totals: dict[str, Any]) -> None:
        """A restart goes on from the totals the previous process counted."""
        self._talk_time_closed, self._turns_closed = self.activity.carry_over(totals)

    def talk_times(self) -> tuple[dict[str, float], dict[str, int]]:
        talk = dict(self._talk_time_closed)
        turns = dict(self._turns_closed)
        if self.room is not None:
            for participant in self.room.participants.values():
                microphone = participant.publication_for(Source.MICROPHONE)
                if microphone is not None:
                    identity = participant.identity
                    talk[identity] = talk.get(identity, 0.0) + microphone.talk_timer.talk_time_s
                    turns[identity] = turns.get(identity, 0) + microphone.talk_timer.turns
        return talk, turns

    async def _snapshot_all(self) -> None:
        if self.room is None:
            return
        await self._snapshot([p.identity for p in self.room.participants.values()])

    async def _snapshot(self, identities: list[str]) -> None:
        now = time.time()
        talk, turns = self.talk_times()
        records = await self.attendance.all()
        for identity in identities:
            if identity not in self.activity.participants:
                continue
            record = records.get(identity)
            self.emit(EventType.ENGAGEMENT_SNAPSHOT, self.activity.snapshot(
                identity, record.present_s(now) if record else 0.0, talk,
                turns.get(identity, 0), now), identity, now)

    async def _send_panel(self) -> None:
        room = self.room
        if room is None:
            return
        talk, _ = self.talk_times()
        speaking = set(self._speaking_since)
        rows = []
        for participant in room.participants.values():
            activity = self.activity.activity(participant.identity)
            score, parts = self.activity.score(participant.identity, talk)
            rows.append({
                "identity": participant.identity, "name": participant.name,
                "role": participant.role.value, "speaking": participant.identity in speaking,
                "talk_time_s": round(talk.get(participant.identity, 0.0), 1),
                "camera_on": activity.camera.on, "visible": activity.visible.on,
                "hand_raised": self.hands.is_raised(participant.identity),
                "face_in_frame": self._face_in_frame(participant.identity),
                "score": score, "score_parts": parts})
        message = {"type": "engagement", "participants": rows}
        for participant in room.participants.values():
            if participant.permissions.moderate:
                participant.signal(message)

    def _face_in_frame(self, identity: str) -> Optional[bool]:
        findings = self._camera_state.get(identity)
        if findings is None or findings.black or not self.activity.activity(identity).camera.on:
            return None
        return findings.faces > 0

    async def _every(self, interval_s: float, action: Callable[[], Awaitable[None]]) -> None:
        task = asyncio.current_task()
        assert task is not None
        while not task.cancelling():  # see DurableTimers._run: a cancellation may come back as an error
            await asyncio.sleep(interval_s)
            try:
                await action()
            except Exception:
                logger.exception("session %s: periodic %s failed", self.session.id, action.__name__)

    # -- the end --------------------------------------------------------------------------

    async def close(self) -> None:
        """Stop this node's work on the session without ending the class (a shutdown: after a
        restart, or on another node, the class goes on). Jobs already queued still run."""
        for ticker in self._tickers:
            ticker.cancel()
        await asyncio.gather(*self._tickers, return_exceptions=True)
        await self.recording.close()
        if not self._worker.done():
            self._jobs.put_nowait(None)
            try:
                await asyncio.wait_for(self._worker, CLOSE_TIMEOUT_S)
            except asyncio.TimeoutError:
                logger.warning("session %s: jobs still pending at shutdown", self.session.id)

    async def end(self, reason: str) -> None:
        """Close the room, then publish the final snapshots, the attendance summary and
        session.ended, in that order."""
        now = time.time()
        for ticker in self._tickers:
            ticker.cancel()
        if self.poll is not None:
            self._end_poll(self.poll, self.poll.created_by)
        attended = list(self.activity.participants)
        if self.room is not None and not self.room.closed:
            await self.room.close("session_ended")
        await self.recording.stop(None, "session_ended")
        await self.transcripts.finish()
        await self.drain()
        await self._snapshot(attended)
        roster = [(entry.identity, entry.name) for entry in self.session.roster]
        summary = summarise(await self.attendance.all(), roster, self.policy, now,
                            frozenset(await self.attendance.excused()))
        self.emit(EventType.ATTENDANCE_SUMMARY, summary, at=now)
        self.emit(EventType.SESSION_ENDED, {
            "ended_at": iso(now), "reason": reason,
            "duration_s": round(now - self.opened_at, 3) if self.opened_at else 0.0}, at=now)
        await self.close()


class LiveSessions:
    """The sessions this node runs, and the timers every session has from its creation."""

    def __init__(self, sessions: SessionStore, bus: EventBus, redis: aioredis.Redis, sfu: SFU,
                 speech: SpeechServices, storage: RecordingStorage, data_dir: Path, end_grace_s: float,
                 snapshot_interval_s: float, panel_interval_s: float,
                 video_sample_interval_s: float) -> None:
        self._sessions = sessions
        self._bus = bus
        self._redis = redis
        self._sfu = sfu
        self.speech = speech
        self._storage = storage
        self._sessions_dir = data_dir / "sessions"
        self._end_grace_s = end_grace_s
        self._snapshot_interval_s = snapshot_interval_s
        self._panel_interval_s = panel_interval_s
        self._video_sample_interval_s = video_sample_interval_s
        # One thread and one face model for every camera on this node.
        self.frames = FrameWorker()
        self._faces = FaceCounter()
        self._live: dict[str, LiveSession] = {}
        self._ending: dict[str, asyncio.Future[Session]] = {}
        self.timers = DurableTimers(redis, {"no_show_check": self._no_show_check,
                                            "session_end": self._scheduled_end,
                                            "recordings_expire": self._recordings_expire})

    def start(self) -> None:
        self.timers.start()

    async def schedule(self, session: Session) -> None:
        start, end = parse_iso(session.scheduled_start), parse_iso(session.scheduled_end)
        await self.timers.schedule("no_show_check", start + session.settings.no_show_after_s,
                                   {"session_id": session.id})
        await self.timers.schedule("session_end", end + self._end_grace_s, {"session_id": session.id})

    def live(self, session: Session) -> LiveSession:
        live = self._live.get(session.id)
        if live is None:
            live = self._live[session.id] = LiveSession(
                session, self._bus, self._redis, self._snapshot_interval_s, self._panel_interval_s,
                self._video_sample_interval_s, self.frames, self._faces, self.speech, self._storage,
                self._sessions_dir / session.id)
        return live

    def get(self, session_id: str) -> Optional[LiveSession]:
        return self._live.get(session_id)

    def open_room(self, session: Session) -> tuple[LiveSession, Room]:
        live = self.live(session)
        return live, live.open_room(self._sfu)

    async def end(self, session_id: str, reason: str) -> Optional[Session]:
        """End a session once, whoever asks first (API, instructor, timer)."""
        if session_id in self._ending:
            return await asyncio.shield(self._ending[session_id])
        session = await self._sessions.get(session_id)
        if session is None:
            return None
        if session.ended:
            return session
        future: asyncio.Future[Session] = asyncio.get_running_loop().create_future()
        self._ending[session_id] = future
        try:
            session.ended_at = time.time()
            await self._sessions.save(session)
            await self.live(session).end(reason)
            self._live.pop(session_id, None)
            await self.timers.cancel("session_end", {"session_id": session_id})
            if session.settings.recording_retention_days is not None:
                await self.timers.schedule(
                    "recordings_expire", session.ended_at + session.settings.recording_retention_days * 86400,
                    {"session_id": session_id})
            future.set_result(session)
            return session
        except BaseException as exc:
            future.set_exception(exc)
            raise
        finally:
            self._ending.pop(session_id, None)

    async def _no_show_check(self, payload: dict[str, Any]) -> None:
        session = await self._sessions.get(payload["session_id"])
        if session is None or session.ended:
            return
        store = AttendanceStore(self._redis, session.id)
        records = await store.all()
        excused = await store.excused()
        now = time.time()
        for entry in session.roster:
            if entry.identity in records or entry.identity in excused:
                continue
            if not await store.mark_no_show(entry.identity):
                continue
            guardian = None
            if entry.guardian is not None:
                guardian = {"name": entry.guardian.name, "email": entry.guardian.email,
                            "phone": entry.guardian.phone}
            await self._bus.publish(Event(EventType.ATTENDANCE_NO_SHOW, session.id, {
                "name": entry.name, "guardian": guardian, "title": session.title,
                "scheduled_start": session.scheduled_start,
                "no_show_after_s": session.settings.no_show_after_s}, entry.identity, now))

    async def _recordings_expire(self, payload: dict[str, Any]) -> None:
        """The session's retention period is over: its recordings and export go."""
        session_id = payload["session_id"]
        deleted = await asyncio.to_thread(delete_media, self._sessions_dir / session_id / "recordings",
                                          session_id, iso(time.time()), self._storage)
        (self._sessions_dir / session_id / EXPORT_FILE).unlink(missing_ok=True)
        await asyncio.to_thread(self._storage.delete, session_id, EXPORT_FILE)
        logger.info("session %s: retention over, %d recordings deleted", session_id, len(deleted))

    async def _scheduled_end(self, payload: dict[str, Any]) -> None:
        await self.end(payload["session_id"], "scheduled_end")

    async def close(self) -> None:
        await self.timers.close()
        await asyncio.gather(*(live.close() for live in self._live.values()))
        self._live.clear()
        self.frames.close()
