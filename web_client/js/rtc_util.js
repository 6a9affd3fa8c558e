// Small helpers shared by the publisher and subscriber peer connections.

/**
 * Wait until the connection has gathered its ICE candidates, or `timeoutMs` passes.
 * Sending the SDP with its candidates inside saves the server from depending on trickle;
 * candidates found later are still trickled.
 */
export function waitForIceGathering(pc, timeoutMs = 1500) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener("icegatheringstatechange", onChange);
      resolve();
    };
    const onChange = () => {
      if (pc.iceGatheringState === "complete") done();
    };
    const timer = setTimeout(done, timeoutMs);
    pc.addEventListener("icegatheringstatechange", onChange);
  });
}

/** The wire form of an ICE candidate (`null` marks the end of candidates). */
export function candidateToWire(candidate) {
  if (!candidate) return null;
  return {
    candidate: candidate.candidate,
    sdpMid: candidate.sdpMid,
    sdpMLineIndex: candidate.sdpMLineIndex,
  };
}

/**
 * Calls `onBroken()` when the connection has been `failed` or `disconnected` for longer
 * than `graceMs` (a short `disconnected` often heals by itself). Returns a stop function.
 */
export function watchConnection(pc, onBroken, graceMs = 3000) {
  let timer = null;
  const check = () => {
    const state = pc.connectionState;
    if (state === "failed" || state === "disconnected") {
      if (!timer) timer = setTimeout(() => {
        timer = null;
        if (pc.connectionState === "failed" || pc.connectionState === "disconnected") onBroken(state);
      }, graceMs);
    } else if (timer) {
      clearTimeout(timer);
      timer = null;
    }
  };
  pc.addEventListener("connectionstatechange", check);
  return () => {
    clearTimeout(timer);
    pc.removeEventListener("connectionstatechange", check);
  };
}
