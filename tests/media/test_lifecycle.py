"""Closing, the mediasoup way: a room and a participant close once however often they are
closed, end and wait for every task they started, close their children and tell their parent;
a room opened and closed again and again, with real aiortc participants on loopback, leaves no
task, file descriptor or thread behind."""

from __future__ import annotations

import asyncio
import gc
import os
import threading
from typing import Any, AsyncIterator, Optional

import pytest
from aiortc import AudioStreamTrack, RTCPeerConnection, RTCSessionDescription, VideoStreamTrack

from media import SFU, Participant, Permissions, Role, Room, RoomObserver
from media.aiortc import use_host_addresses
from media.lifecycle import cancel_and_wait

LOOPBACK = "127.0.0.1"


@pytest.fixture
async def sfu() -> AsyncIterator[SFU]:
    node = SFU(ice_addresses=(LOOPBACK,))
    try:
        yield node
    finally:
        await node.close()
        use_host_addresses(())


class LoopbackClient:
    """A participant's far end, as a browser is: it publishes a microphone and a camera and
    answers the server's subscriber offers."""

    def __init__(self) -> None:
        self.publisher = RTCPeerConnection()
        self.subscriber = RTCPeerConnection()
        self.participant: Optional[Participant] = None
        self._answering: set[asyncio.Task[None]] = set()

    def signal(self, message: dict[str, Any]) -> None:
        if message["type"] == "offer":
            answering = asyncio.ensure_future(self._answer(message["sdp"]))
            self._answering.add(answering)
            answering.add_done_callback(self._answering.discard)

    async def join(self, room: Room, identity: str, role: Role = Role.STUDENT) -> Participant:
        self.participant = await room.join(identity, identity, role, Permissions.for_role(role),
                                           self.signal)
        audio = self.publisher.addTransceiver(AudioStreamTrack(), direction="sendonly")
        video = self.publisher.addTransceiver(VideoStreamTrack(), direction="sendonly")
        await self.publisher.setLocalDescription(await self.publisher.createOffer())
        sdp, _ = await self.participant.handle_publisher_offer(
            self.publisher.localDescription.sdp,
            [{"mid": str(audio.mid), "source": "microphone"}, {"mid": str(video.mid), "source": "camera"}])
        await self.publisher.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
        return self.participant

    async def _answer(self, sdp: str) -> None:
        await self.subscriber.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        await self.subscriber.setLocalDescription(await self.subscriber.createAnswer())
        assert self.participant is not None
        if not self.participant.closed:
            await self.participant.handle_subscriber_answer(self.subscriber.localDescription.sdp)

    async def close(self) -> None:
        await cancel_and_wait(*self._answering)
        await asyncio.gather(self.publisher.close(), self.subscriber.close())


class Watching(RoomObserver):
    """What a room tells its observer of its participants leaving and of its close."""

    def __init__(self) -> None:
        self.left: list[tuple[str, str]] = []
        self.closed: list[str] = []

    def participant_left(self, participant: Participant, reason: str) -> None:
        self.left.append((participant.identity, reason))

    def room_closed(self, reason: str) -> None:
        self.closed.append(reason)


async def wait_until(condition: Any, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def threads() -> int:
    """OS threads, native ones too (the packet sender's), but for the workers of the loop's
    default executor (aiortc encodes a client's frames there), which it keeps for reuse, up to
    its max_workers. Collected first: aiortc's clients leave their codec contexts, which hold
    libvpx's threads, in reference cycles."""
    gc.collect()
    executor = {t.native_id for t in threading.enumerate() if t.name.startswith("asyncio_")}
    return len({int(task) for task in os.listdir("/proc/self/task")} - executor)


async def settled(count: Any, baseline: int, timeout: float = 5.0) -> int:
    """`count()` once it is back at `baseline` or below (a closed socket's last queued packets
    go out on the packet sender's thread first), or after `timeout`."""
    deadline = asyncio.get_running_loop().time() + timeout
    while count() > baseline and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.02)
    value: int = count()
    return value


async def class_in_session(sfu: SFU, session_id: str, size: int = 2) -> tuple[Room, list[LoopbackClient]]:
    """A room whose participants are connected, publishing, and subscribed to each other."""
    room = sfu.room(session_id, "lifecycle")
    clients = [LoopbackClient() for _ in range(size)]
    for index, client in enumerate(clients):
        await client.join(room, f"p{index}", Role.INSTRUCTOR if index == 0 else Role.STUDENT)
    participants = [c.participant for c in clients if c.participant is not None]
    await wait_until(lambda: all(
        p.publisher_pc.connectionState == "connected" and p.subscriber_pc.connectionState == "connected"
        and len(p.subscriptions) == 2 * (size - 1) for p in participants))
    return room, clients


async def test_a_room_closed_twice_or_at_once_closes_once(sfu: SFU) -> None:
    watching = Watching()
    room = sfu.room("s1", "twice", watching)
    clients = [LoopbackClient(), LoopbackClient()]
    for index, client in enumerate(clients):
        await client.join(room, f"p{index}")
    try:
        await asyncio.gather(room.close("first"), room.close("second"))
        await room.close("third")
        assert watching.closed == ["first"]
        assert room.closed and room.participants == {}
        assert "s1" not in sfu.rooms  # the room told the SFU
        assert all(c.participant is not None and c.participant.closed for c in clients)
    finally:
        for client in clients:
            await client.close()


async def test_a_participant_closed_on_its_own_leaves_its_room(sfu: SFU) -> None:
    watching = Watching()
    room = sfu.room("s2", "own close", watching)
    client = LoopbackClient()
    participant = await client.join(room, "solo")
    try:
        assert participant.publications  # its microphone and camera
        await participant.close()
        await participant.close()
        assert room.participants == {}  # it told its room
        assert watching.left == [("solo", "closed")]
        assert participant.publications == {}  # it closed its children
    finally:
        await room.close()
        await client.close()


def server_side(room: Room) -> set[int]:
    """The ids of the room, its participants and everything of aiortc's and aioice's under
    their peer connections: what runs a task on the server's side of the class."""
    objects: list[object] = [room]
    for participant in room.participants.values():
        objects.append(participant)
        for pc in (participant.publisher_pc, participant.subscriber_pc):
            objects.append(pc)
            for transceiver in pc.getTransceivers():
                dtls = transceiver.receiver.transport
                connection = dtls.transport.iceGatherer._connection
                objects += [transceiver, transceiver.sender, transceiver.receiver, dtls,
                            dtls.transport, dtls.transport.iceGatherer, connection,
                            *connection._protocols]
    return {id(o) for o in objects}


def runs_for(task: "asyncio.Task[Any]", owners: set[int]) -> bool:
    """Whether `task`'s coroutine is a method (or takes an argument) of one of `owners`."""
    frame = getattr(task.get_coro(), "cr_frame", None)
    return frame is not None and any(id(value) in owners for value in frame.f_locals.values())


async def test_closing_a_room_leaves_none_of_its_tasks_pending(sfu: SFU) -> None:
    before = asyncio.all_tasks()
    room, clients = await class_in_session(sfu, "s3")
    participants = list(room.participants.values())
    owners = server_side(room)
    started = asyncio.all_tasks() - before
    assert [t for t in started if runs_for(t, owners)]  # watchers, negotiations, aiortc's own
    room.disconnected(participants[1], 60.0)  # a reconnect grace running
    await room.close()
    assert [t for t in started if runs_for(t, owners) and not t.done()] == []
    assert all(p.closed and not p.publications and not p.subscriptions for p in participants)
    for client in clients:
        await client.close()
    assert [t for t in started if not t.done()] == []


async def test_a_room_opened_and_closed_100_times_leaves_nothing_behind(sfu: SFU) -> None:
    # The first class starts what lives as long as the process: the packet sender's thread,
    # the audio silence reporter's.
    room, clients = await class_in_session(sfu, "warm-up")
    await room.close()
    for client in clients:
        await client.close()
    tasks, descriptors, thread_count = asyncio.all_tasks(), open_descriptors(), threads()
    for round in range(100):
        room, clients = await class_in_session(sfu, f"class-{round}")
        await room.close()
        for client in clients:
            await client.close()
    assert asyncio.all_tasks() - tasks == set()
    # Fewer is no leak: a library's pooled thread may end meanwhile.
    assert await settled(open_descriptors, descriptors) <= descriptors
    assert await settled(threads, thread_count) <= thread_count
    assert sfu.rooms == {}
