// Run by test_load.py in the page: 1,000 agents x 20 Hz of change-stream frames handed to the link.
// Returns the page's frame gaps, how far the feed fell behind, and how many markers moved.
(async ([agents, hz, seconds]) => {
  const { encode, decode } = await import('/vendor/msgpack/dist.esm/index.mjs');
  const { link, store, map } = window.lodestone;
  const now = store.now();
  let commit = (store.lastCommit || 0) + 1e9;
  const ids = Array.from({length: agents}, (_, i) => `load${String(i).padStart(60, '0')}`);
  const state = (i, step) => ({_type: 'AgentState', _v: 4, name: `load-${i}`, health: 20 - (step % 20), maxHealth: 20,
    position: {x: (i % 40) * 12 + step, y: 64, z: Math.floor(i / 40) * 12 - step}, inventory: [{type: 'torch', count: 3, slot: 0}],
    stats: {blocksMined: step, blocksPlaced: 0, distanceTraveled: step, deaths: 0, tasksAssigned: 0},
    tasks: [], createdAt: now, lastSeen: now});
  const frame = (i, step) => encode({ctl: 'event', topic: `change.Agent.${ids[i]}`, body: {v: 1, class: 'Agent',
    id: ids[i], name: `load-${i}`, commit: commit++, cleared: false, changes: [{key: 'state', value: state(i, step)}]}});
  for (let i = 0; i < agents; i++) link.receive(frame(i, 0).slice().buffer);
  const steps = hz * seconds;
  const frames = [];
  for (let step = 1; step <= steps; step++) for (let i = 0; i < agents; i++) frames.push(frame(i, step).slice().buffer);
  await new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
  const before = { ...map.stats };
  const gaps = [];
  let last = performance.now();
  let running = true;
  const tick = (t) => { gaps.push(t - last); last = t; if (running) requestAnimationFrame(tick); };
  requestAnimationFrame(tick);
  const perSecond = agents * hz;
  const started = performance.now();
  let sent = 0;
  let worstBehind = 0;
  let busy = 0;
  await new Promise((resolve) => {
    const feed = () => {
      const due = Math.min(frames.length, Math.floor((performance.now() - started) / 1000 * perSecond));
      worstBehind = Math.max(worstBehind, due - sent);
      const t0 = performance.now();
      while (sent < due) link.receive(frames[sent++]);
      busy += performance.now() - t0;
      if (sent < frames.length) setTimeout(feed, 5); else resolve();
    };
    feed();
  });
  const elapsed = (performance.now() - started) / 1000;
  await new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
  running = false;
  gaps.sort((a, b) => a - b);
  // The same frames only decoded, now: what this machine's JavaScript costs at this moment.
  const t1 = performance.now();
  for (const frame of frames) decode(new Uint8Array(frame));
  const decodeOnly = performance.now() - t1;
  const last_ = (i) => ({x: (i % 40) * 12 + steps, z: Math.floor(i / 40) * 12 - steps});
  const wrong = ids.filter((_, i) => { const m = map.markerOf(`load-${i}`); const w = last_(i); return !m || m.x !== w.x || m.z !== w.z; });
  return {
    events: frames.length, perSecond: frames.length / elapsed, frames: gaps.length,
    p95: gaps[Math.floor(gaps.length * 0.95)], worst: gaps[gaps.length - 1], worstBehind,
    busyMs: busy, decodeOnlyMs: decodeOnly,
    moved: map.stats.moved - before.moved, drawnFrames: map.stats.frames - before.frames, wrong: wrong.length,
  };
})
