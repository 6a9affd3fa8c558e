"""A session's events as xAPI 1.0.3 statements, following the Virtual Classroom profile.

Profile: https://w3id.org/xapi/virtual-classroom (Gaia-X DASES; its statement templates are in
github.com/gaia-x-dases/xapi-virtual-classroom). The profile picks its verbs from existing
vocabularies rather than minting one per action, so "joined" is `http://activitystrea.ms/join`,
"muted" is `.../virtual-classroom/verbs/stopped` on a microphone activity, and so on (VERBS).

| Aula event | statement (profile template) | verb | object |
|---|---|---|---|
| `session.started` | initialized | adlnet `initialized` | the session |
| `session.ended` | terminated (`result.duration`) | adlnet `terminated` | the session |
| `participant.joined` | joined | activitystrea.ms `join` | the session |
| `participant.left` | left (`result.duration` of the interval) | activitystrea.ms `leave` | the session |
| `track.published` camera / screen | started camera / shared screen | `start` / `share` | the camera / screen |
| `track.unpublished` camera / screen | stopped camera / unshared screen | VC `stopped` / `unshare` | the camera / screen |
| signal `mic_muted` / `mic_unmuted` | muted / unmuted | VC `stopped` / `start` | the microphone |
| signal `hand_raised` / `hand_lowered` | raised hand / lowered hand (emoji U+1F590) | VC `reacted` / `unreacted` | the session |
| signal `chat_message` to everyone | posted public message | acrossx `posted` | the message |
| `poll.started` | started poll | adlnet `asked` | the poll (cmi.interaction, choice) |
| signal `poll_answered` | answered poll (`result.response`, `result.success`) | adlnet `answered` | the poll |

Skipped, as the profile has no statement for them: `attendance.late`, `attendance.no_show`,
`attendance.summary`, `engagement.snapshot`, `poll.ended` (its answers are the `poll_answered`
signals, exported one by one), microphone tracks (`track.published`/`track.unpublished` with
source `microphone`: the mic_muted/mic_unmuted signals carry the microphone's state), and the
signals `speaking_started`, `speaking_stopped`, `camera_on`, `camera_off`, `reaction` (the
profile's `reacted` verb means a raised hand), `tab_hidden`, `tab_visible`,
`connection_quality`, and private chat messages (`to` an identity: the profile has no template
for them, and they are private).

Identifiers are deterministic, so exporting the same events again gives the same statements:
the statement id is a UUIDv5 of the event id, `context.registration` a UUIDv5 of the session id
(the planned class), and the cmi5 `sessionid` extension a UUIDv5 of the `session.started` event
that opened the room (the profile's "technical session": a room that closes and reopens gets a
new one). All three are in a namespace derived from `homepage`.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any, Iterable, Optional, cast
from urllib.parse import quote, urlsplit

from .schema import EventInvalid, validate

logger = logging.getLogger(__name__)

PROFILE = "https://w3id.org/xapi/virtual-classroom"

ADL = "http://adlnet.gov/expapi/verbs/"
AS = "http://activitystrea.ms/"
VC = "https://w3id.org/xapi/virtual-classroom/"

# name (the profile's template) -> (verb IRI, display)
VERBS: dict[str, tuple[str, str]] = {
    "initialized": (ADL + "initialized", "initialized"),
    "terminated": (ADL + "terminated", "terminated"),
    "joined": (AS + "join", "joined"),
    "left": (AS + "leave", "left"),
    "started-camera": (AS + "start", "started"),
    "stopped-camera": (VC + "verbs/stopped", "stopped"),
    "shared-screen": (AS + "share", "shared"),
    "unshared-screen": (AS + "unshare", "unshared"),
    "muted": (VC + "verbs/stopped", "stopped"),
    "unmuted": (AS + "start", "started"),
    "raised-hand": (VC + "verbs/reacted", "reacted"),
    "lowered-hand": (VC + "verbs/unreacted", "unreacted"),
    "posted": ("https://w3id.org/xapi/acrossx/verbs/posted", "posted"),
    "asked": (ADL + "asked", "asked"),
    "answered": (ADL + "answered", "answered"),
}

VIRTUAL_CLASSROOM = VC + "activity-types/virtual-classroom"
CAMERA = VC + "activity-types/camera"
SCREEN = VC + "activity-types/screen"
MICROPHONE = VC + "activity-types/micro"
MESSAGE = "https://w3id.org/xapi/acrossx/activities/message"
CMI_INTERACTION = "http://adlnet.gov/expapi/activities/cmi.interaction"
PROFILE_TYPE = "http://adlnet.gov/expapi/activities/profile"

SESSIONID = "https://w3id.org/xapi/cmi5/context/extensions/sessionid"
PLANNED_DURATION = "http://id.tincanapi.com/extension/planned-duration"
EMOJI = VC + "extensions/emoji"
RAISED_HAND_EMOJI = "U+1F590"

# Language maps: titles, questions and options are typed by people in whatever language the
# class uses, so they are tagged "und" (undetermined, RFC 5646); verb displays are English.
UNDETERMINED = "und"

_TIE_RANK = {"session.started": 0, "session.ended": 2}

# What `build` makes of an event: (verb, actor, object, has a parent, result, context
# extensions, instructor).
Built = tuple[str, dict[str, Any], dict[str, Any], bool, dict[str, Any], dict[str, Any], Optional[str]]

SYSTEM_IDENTITY = "aula"  # the actor of statements no participant made (session.ended)


def statements(
    envelopes: Iterable[dict[str, Any]],
    *,
    homepage: str,
    system_identity: str = SYSTEM_IDENTITY,
    chat_text: bool = False,
    skip_invalid: bool = False,
) -> list[dict[str, Any]]:
    """The xAPI statements for a session's events, in the order the events happened.

    `homepage`: the deployment's base URL (actor accounts' homePage; activity ids start with it).
    Events are validated (EventInvalid, unless `skip_invalid`, which logs and drops them),
    duplicates (the same id twice, as an outbox replay may leave) dropped, and the rest put in
    time order (events of the same millisecond keep the order they are given in: pass them in
    stream order). `chat_text` puts a
    public message's text in `result.response`; by default the text stays out of the LRS.
    """
    homepage = homepage.rstrip("/")
    parts = urlsplit(homepage)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"homepage must be an absolute http(s) URL, not {homepage!r}")
    exporter = _Exporter(homepage, system_identity, chat_text)
    events: dict[str, dict[str, Any]] = {}
    for envelope in envelopes:
        try:
            validate(envelope)
        except EventInvalid as exc:
            if not skip_invalid:
                raise
            logger.warning("xAPI export skips an invalid event: %s", exc)
            continue
        events.setdefault(envelope["id"], envelope)
    # ts has one format (UTC, milliseconds, Z), so the strings sort in time. Within one
    # millisecond ids sort at random (their tail is random), so ties keep the order the events
    # came in, except that a room opens before, and a session ends after, anything else then.
    ordered = sorted(events.values(), key=lambda e: (e["ts"], _TIE_RANK.get(e["type"], 1)))
    exporter.prepare(ordered)
    return [statement for envelope in ordered
            if (statement := exporter.statement(envelope)) is not None]


class _Exporter:
    def __init__(self, homepage: str, system_identity: str, chat_text: bool) -> None:
        self.homepage = homepage
        self.system_identity = system_identity
        self.chat_text = chat_text
        self.namespace = uuid.uuid5(uuid.NAMESPACE_URL, homepage)
        self.titles: dict[str, str] = {}
        self.planned: dict[str, float] = {}
        self.polls: dict[tuple[str, str], dict[str, Any]] = {}
        self.opened_by: dict[str, str] = {}  # session.started id -> the identity whose join opened it
        self.room: dict[str, str] = {}  # event id -> the session.started id of its room opening

    def prepare(self, ordered: list[dict[str, Any]]) -> None:
        current: dict[str, str] = {}  # session id -> its latest session.started
        waiting_for_join: dict[str, str] = {}
        for envelope in ordered:
            session_id, data = envelope["session_id"], envelope["data"]
            if envelope["type"] == "session.started":
                current[session_id] = waiting_for_join[session_id] = envelope["id"]
                self.titles[session_id] = data["title"]
                self.planned[session_id] = (_time(data["scheduled_end"])
                                            - _time(data["scheduled_start"])).total_seconds()
            elif envelope["type"] == "participant.joined" and session_id in waiting_for_join:
                self.opened_by[waiting_for_join.pop(session_id)] = envelope["participant"]
            elif envelope["type"] == "poll.started":
                self.polls.setdefault((session_id, data["poll_id"]), data)
            if session_id in current:
                self.room[envelope["id"]] = current[session_id]

    # -- the parts of a statement

    def agent(self, identity: str) -> dict[str, Any]:
        return {"objectType": "Agent", "account": {"homePage": self.homepage, "name": identity}}

    def session_activity(self, session_id: str, *, full: bool = True) -> dict[str, Any]:
        definition: dict[str, Any] = {"type": VIRTUAL_CLASSROOM}
        if full and session_id in self.titles:
            definition["name"] = {UNDETERMINED: self.titles[session_id]}
        return {"objectType": "Activity", "id": f"{self.homepage}/sessions/{quote(session_id, safe='')}",
                "definition": definition}

    def child_activity(self, session_id: str, path: str, activity_type: str,
                       name: Optional[str] = None) -> dict[str, Any]:
        definition: dict[str, Any] = {"type": activity_type}
        if name:
            definition["name"] = {"en-US": name}
        return {"objectType": "Activity",
                "id": f"{self.session_activity(session_id)['id']}/{path}",
                "definition": definition}

    def participant_activity(self, session_id: str, identity: str, device: str,
                             activity_type: str) -> dict[str, Any]:
        return self.child_activity(session_id, f"participants/{quote(identity, safe='')}/{device}",
                                   activity_type, f"{identity}'s {device}")

    def poll_activity(self, session_id: str, poll_id: str) -> dict[str, Any]:
        activity = self.child_activity(session_id, f"polls/{quote(poll_id, safe='')}", CMI_INTERACTION)
        definition = activity["definition"]
        definition["interactionType"] = "choice"
        poll = self.polls.get((session_id, poll_id))
        if poll is not None:
            definition["description"] = {UNDETERMINED: poll["question"]}
            definition["choices"] = [{"id": str(index), "description": {UNDETERMINED: option}}
                                     for index, option in enumerate(poll["options"])]
            if poll["correct"] is not None:
                definition["correctResponsesPattern"] = [str(poll["correct"])]
        return activity

    def context(self, envelope: dict[str, Any], *, parent: bool) -> dict[str, Any]:
        session_id = envelope["session_id"]
        opening = self.room.get(envelope["id"], f"unopened:{session_id}")
        activities: dict[str, Any] = {
            "category": [{"objectType": "Activity", "id": PROFILE, "definition": {"type": PROFILE_TYPE}}],
        }
        if parent:
            activities["parent"] = [self.session_activity(session_id, full=False)]
        return {
            "registration": str(uuid.uuid5(self.namespace, f"registration:{session_id}")),
            "platform": "Aula",
            "contextActivities": activities,
            "extensions": {SESSIONID: str(uuid.uuid5(self.namespace, f"sessionid:{opening}"))},
        }

    # -- one event

    def statement(self, envelope: dict[str, Any]) -> Optional[dict[str, Any]]:
        built = self.build(envelope)
        if built is None:
            return None
        verb, actor, activity, parent, result, extensions, instructor = built
        statement: dict[str, Any] = {
            "id": str(uuid.uuid5(self.namespace, f"statement:{envelope['id']}")),
            "actor": actor,
            "verb": {"id": VERBS[verb][0], "display": {"en-US": VERBS[verb][1]}},
            "object": activity,
        }
        if result:
            statement["result"] = result
        context = self.context(envelope, parent=parent)
        context["extensions"].update(extensions)
        if instructor is not None:
            context["instructor"] = self.agent(instructor)
        statement["context"] = context
        statement["timestamp"] = envelope["ts"]
        return statement

    def build(self, envelope: dict[str, Any]) -> Optional[Built]:
        """(verb, actor, object, has a parent, result, context extensions, instructor) or None."""
        event_type, data = envelope["type"], envelope["data"]
        session_id, identity = envelope["session_id"], cast(str, envelope.get("participant"))
        session = self.session_activity(session_id)
        planned = ({PLANNED_DURATION: _duration(self.planned[session_id])}
                   if session_id in self.planned else {})

        if event_type == "session.started":
            opener = self.opened_by.get(envelope["id"], self.system_identity)
            return "initialized", self.agent(opener), session, False, {}, planned, None
        if event_type == "session.ended":
            result = {"duration": _duration(data["duration_s"])}
            return ("terminated", self.agent(self.system_identity), session, False, result,
                    planned, None)
        if event_type == "participant.joined":
            return "joined", self.agent(identity), session, False, {}, {}, None
        if event_type == "participant.left":
            result = {"duration": _duration(data["duration_s"])}
            return "left", self.agent(identity), session, False, result, {}, None
        if event_type in ("track.published", "track.unpublished"):
            started = event_type == "track.published"
            if data["source"] == "camera":
                verb = "started-camera" if started else "stopped-camera"
                activity = self.participant_activity(session_id, identity, "camera", CAMERA)
            elif data["source"] == "screen":
                verb = "shared-screen" if started else "unshared-screen"
                activity = self.participant_activity(session_id, identity, "screen", SCREEN)
            else:
                return None
            return verb, self.agent(identity), activity, True, {}, {}, None
        if event_type == "poll.started":
            activity = self.poll_activity(session_id, data["poll_id"])
            return "asked", self.agent(identity), activity, True, {}, {}, None
        if event_type == "engagement.signal":
            return self.signal(envelope, session)
        return None  # attendance.*, engagement.snapshot, poll.ended

    def signal(self, envelope: dict[str, Any], session: dict[str, Any]) -> Optional[Built]:
        data, session_id, identity = envelope["data"], envelope["session_id"], envelope["participant"]
        signal = data["signal"]
        actor = self.agent(identity)
        if signal in ("mic_muted", "mic_unmuted"):
            activity = self.participant_activity(session_id, identity, "microphone", MICROPHONE)
            verb = "muted" if signal == "mic_muted" else "unmuted"
            return verb, actor, activity, True, {}, {}, data.get("by")
        if signal in ("hand_raised", "hand_lowered"):
            verb = "raised-hand" if signal == "hand_raised" else "lowered-hand"
            result: dict[str, Any] = {"extensions": {EMOJI: RAISED_HAND_EMOJI}}
            return verb, actor, session, False, result, {}, data.get("by")
        if signal == "chat_message":
            if data["to"] is not None:
                return None
            activity = self.child_activity(session_id, f"messages/{quote(data['message_id'], safe='')}",
                                           MESSAGE, f"Message {data['message_id']} from {identity}")
            result = {"response": data["text"]} if self.chat_text else {}
            return "posted", actor, activity, True, result, {}, None
        if signal == "poll_answered":
            activity = self.poll_activity(session_id, data["poll_id"])
            result = {"response": str(data["option"])}
            if data["correct"] is not None:
                result["success"] = data["correct"]
            return "answered", actor, activity, True, result, {}, None
        return None


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _duration(seconds: float) -> str:
    """ISO 8601 duration to the hundredth of a second (xAPI's precision): PT1H2M3.5S."""
    centiseconds = max(0, round(seconds * 100))
    hours, rest = divmod(centiseconds, 360_000)
    minutes, rest = divmod(rest, 6_000)
    text = "PT"
    if hours:
        text += f"{hours}H"
    if minutes:
        text += f"{minutes}M"
    if rest or text == "PT":
        text += f"{rest / 100:.2f}".rstrip("0").rstrip(".") + "S"
    return text
