/**
 * The reader thread of a member-by-member verify: reads the volume's segments, in order, into the ring the
 * checking thread takes them from (segment-ring.ts), then ends. A failure is left in the ring for
 * the checker to report.
 */
import { workerData } from 'node:worker_threads';
import { SegmentRing } from './segment-ring.js';
import type { ReaderThreadData } from './check-protocol.js';

const data = workerData as ReaderThreadData;
new SegmentRing(data.memory, data.layout).readSegments(data.segments, data.direct, data.probe);
