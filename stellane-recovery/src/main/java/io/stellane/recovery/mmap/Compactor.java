package io.stellane.recovery.mmap;

import io.stellane.recovery.RecoveryException;
import java.io.IOException;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.RejectedExecutionException;

/**
 * Carrying live records out of old segments, and deleting those.
 *
 * <p><b>Compaction</b> (on every segment roll, and before refusing a request when the journal is
 * full): oldest segment first, the frames of the records still live in it are copied, as they are,
 * into the active segment (a new sequence number each; a put's own record seq keeps append order),
 * forced, and only then is the old segment deleted and the directory forced. A crash between copy
 * and delete leaves duplicates, which the scan resolves (the later put wins with the same value).
 * Only the oldest segment is ever deleted, so a delete never goes while the put it deletes
 * survives. If the live records do not fit the active segment, the old one is kept for now.
 *
 * <p><b>Rewrite</b> ({@link MmapStorage#reclaim}): rolls to a fresh segment so that compaction carries
 * every live record out of every older one, which is then deleted with every deleted or replaced
 * record in it. Skipped (false) when the live records might not fit one segment.
 *
 * <p>A compacted segment is deleted on the storage's background thread once its carried copies are
 * forced: deleted, not zeroed in place. On this project's machines, writing a whole segment again
 * through the mapping cost a quarter of the journaled throughput (write-protect faults on pages just
 * written back), and a deleted segment is out of the journal's files either way; what its freed
 * blocks may still hold on the device is ciphertext when the journal has a key. It is unmapped at
 * once ({@link Segment#release}): a mapping keeps a deleted file's blocks allocated.
 */
final class Compactor {
    private final MmapStorage s;
    /** Compacted segments whose files are yet to be deleted; they count against the cap. Under the lock. */
    private final ArrayList<Retired> retiring = new ArrayList<>();
    private long compactedAtDeletes = -1;

    /**
     * A compacted segment on its way out: its live records were copied to {@code carrier} at
     * {@code [from, to)}; those copies are forced before the file is deleted and the directory forced.
     */
    private record Retired(Segment segment, Segment carrier, int from, int to) {
    }

    Compactor(MmapStorage storage) {
        this.s = storage;
    }

    int retiring() {
        return retiring.size();
    }

    /** Compacts unless nothing was deleted since the last time. Under the lock. */
    void compactIfChanged(int reserve) {
        if (compactedAtDeletes != s.deletes) {
            compact(reserve);
        }
    }

    /**
     * Carries the live records of the oldest segments into the active one and deletes them, leaving
     * at least {@code reserve} bytes free for the write that triggered it. Under the lock.
     */
    void compact(int reserve) {
        compactedAtDeletes = s.deletes;
        while (s.segments.size() > 1) {
            Segment oldest = s.segments.getFirst();
            List<MmapStorage.Loc> carried = new ArrayList<>();
            int bytes = 0;
            for (MmapStorage.Loc loc : s.live.values()) {
                if (loc.segment == oldest) {
                    carried.add(loc);
                    bytes += FrameWriter.align8(loc.length);
                }
            }
            if (bytes + reserve > s.active.remaining()) {
                MmapStorage.LOG.debug("journal {}: {} live bytes of {} do not fit the active segment; keeping it",
                        s.dir, bytes, oldest);
                return;
            }
            carried.sort(Comparator.comparingInt(loc -> loc.offset));
            Segment active = s.active;
            int from = active.writePos;
            for (MmapStorage.Loc loc : carried) {
                byte[] payload = new byte[loc.length - FrameWriter.HEADER];
                oldest.buf.get(loc.offset + FrameWriter.HEADER, payload);
                int type = oldest.buf.get(loc.offset + 8);
                int at = active.writePos;
                s.frames.copy(active, s.nextSeq++, type, payload);
                loc.segment = active;
                loc.offset = at;
            }
            s.segments.removeFirst();
            Retired r = new Retired(oldest, active, from, active.writePos);
            retiring.add(r);
            try {
                s.background.execute(() -> retireQuietly(r));
            } catch (RejectedExecutionException e) {
                // closing: close() retires what is left
            }
            MmapStorage.LOG.debug("journal {}: compacted {} ({} records carried forward)", s.dir, oldest, carried.size());
        }
    }

    /** The rewrite of {@link MmapStorage#reclaim}; false when it cannot be done now. */
    boolean rewrite() {
        s.lock.lock();
        try {
            if (s.closed || s.syncFailure.get() != null || s.allocator.fault() != null) {
                return false; // healing comes first
            }
            long bytes = Segment.FILE_HEADER;
            for (MmapStorage.Loc loc : s.live.values()) {
                bytes += FrameWriter.align8(loc.length);
            }
            if (bytes > s.config.segmentSize()) {
                MmapStorage.LOG.debug("recovery journal {}: live records do not fit one segment; rewrite postponed",
                        s.dir);
                return false;
            }
            s.allocator.roll(0, true);
            return s.segments.size() == 1;
        } finally {
            s.lock.unlock();
        }
    }

    /**
     * Deletes a compacted segment once the copies of its live records are durable, forces the
     * directory, and only then unmaps it: a mapping keeps a deleted file's blocks allocated.
     */
    private void retire(Retired r) {
        try {
            s.msync.force(r.carrier, r.from, r.to); // the copies must be durable before the original goes
        } catch (RecoveryException e) {
            throw s.syncer.failed(e);
        }
        try {
            Files.deleteIfExists(r.segment.path);
            MmapStorage.forceDirectory(s.dir);
        } catch (IOException e) {
            throw new RecoveryException("cannot delete compacted journal segment " + r.segment.path + ": "
                    + e.getMessage(), e);
        }
        r.segment.release(); // only now are its blocks free
    }

    private void retireQuietly(Retired r) {
        try {
            retire(r);
        } catch (RuntimeException e) {
            s.throttle.error(MmapStorage.LOG, "retire", "recovery journal " + s.dir + ": " + e.getMessage(), e);
            return;
        }
        s.lock.lock();
        try {
            retiring.remove(r);
            s.allocator.prepareSpareLater();
        } finally {
            s.lock.unlock();
        }
    }

    /** Finishes every retirement now, when the cap needs their room. Under the lock. */
    void retireNow() {
        while (!retiring.isEmpty()) {
            retire(retiring.getFirst());
            retiring.removeFirst();
        }
    }

    /** After healing: the retirements a failed force stopped are tried again. */
    void retireUnfinished() {
        List<Retired> unfinished;
        s.lock.lock();
        try {
            unfinished = s.closed ? List.of() : new ArrayList<>(retiring);
        } finally {
            s.lock.unlock();
        }
        for (Retired r : unfinished) {
            try {
                s.background.execute(() -> retireQuietly(r));
            } catch (RejectedExecutionException e) {
                // closing: close() retires what is left
            }
        }
    }

    /** At close: unmaps what is left. Under the lock. */
    void releaseAll() {
        retiring.forEach(r -> r.segment.release());
    }
}
