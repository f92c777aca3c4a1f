package io.stellane.recovery.mmap;

import io.stellane.recovery.RecoveryException;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.CRC32C;

/**
 * Forcing what was written, and coming back from a force that failed.
 *
 * <p>A failed force makes the storage report {@link MmapStorage#failedSync()}: the journal refuses
 * every write until {@link #healSync} has rewritten and forced everything written so far (why a
 * plain retry would lie is explained there).
 */
final class Syncer {
    private final MmapStorage s;
    /** A segment was renamed into place since the directory was last forced; under the lock. */
    private boolean dirDirty;
    /** The sequence of the last frame known forced; under the lock. */
    private long syncedSeq;

    Syncer(MmapStorage storage) {
        this.s = storage;
    }

    void directoryChanged() {
        dirDirty = true;
    }

    /** Forces everything written, unless every frame up to {@code position} is known forced. */
    void sync(long position) {
        s.lock.lock();
        try {
            if (position <= syncedSeq) {
                return;
            }
        } finally {
            s.lock.unlock();
        }
        syncAll(false);
    }

    /** Records a failed force: the journal refuses writes from now on, until {@link #healSync} has made everything durable. */
    RecoveryException failed(RecoveryException e) {
        s.syncFailure.compareAndSet(null, e);
        return e;
    }

    /**
     * Forces everything written so far, in every segment; with {@code lagging} (the interval sync),
     * the active segment only up to where it stood at the previous tick. The page cache keeps
     * segment files in large folios and writeback write-protects a whole folio: forcing up to the
     * write position would make the worker fault, and wait for the disk, on every page it writes
     * next in that folio. An interval behind, the forced folios are full. The price: a write is
     * forced within two intervals, not one.
     */
    void syncAll(boolean lagging) {
        List<Segment> todo = new ArrayList<>();
        List<int[]> ranges = new ArrayList<>();
        boolean forceDir;
        long seq;
        s.lock.lock();
        try {
            forceDir = dirDirty;
            dirDirty = false;
            seq = lagging ? syncedSeq : s.nextSeq - 1;
            for (Segment seg : s.segments) {
                int to = seg.writePos;
                if (lagging && seg == s.active) {
                    to = seg.seenPos;
                    seg.seenPos = seg.writePos;
                }
                if (seg.syncedPos < to) {
                    todo.add(seg);
                    ranges.add(new int[] {seg.syncedPos, to});
                }
            }
        } finally {
            s.lock.unlock();
        }
        for (int i = 0; i < todo.size(); i++) {
            try {
                s.msync.force(todo.get(i), ranges.get(i)[0], ranges.get(i)[1]);
            } catch (RecoveryException e) {
                throw failed(e);
            }
        }
        if (forceDir) {
            try {
                MmapStorage.forceDirectory(s.dir); // a segment renamed into place since the last sync
            } catch (IOException e) {
                throw failed(new RecoveryException("cannot force journal directory " + s.dir, e));
            }
        }
        s.lock.lock();
        try {
            for (int i = 0; i < todo.size(); i++) {
                Segment seg = todo.get(i);
                seg.syncedPos = Math.max(seg.syncedPos, ranges.get(i)[1]);
            }
            syncedSeq = Math.max(syncedSeq, seq);
        } finally {
            s.lock.unlock();
        }
    }

    /**
     * Makes everything written durable again after a failed force, and only then lets the journal
     * accept writes.
     *
     * <p>A failed msync cannot simply be retried: Linux reports a writeback error to one caller
     * only and marks the pages that failed clean (some filesystems drop them), so a later msync, or
     * a concurrent one of an overlapping range, succeeds without writing them. No range can be
     * trusted, so every page written in every live segment is marked dirty again ({@link
     * Segment#redirty}) and forced, then the directory. Before that, the frames in the mapping are
     * checked: if the kernel dropped a page and read it back from disk, its CRC no longer matches,
     * and rewriting it would make stale bytes durable; the storage then stays failed (503) rather
     * than heal over a hole. Nothing is written meanwhile (the journal refuses every write), so the
     * ranges cannot change under the rewrite.
     */
    void healSync(RecoveryException failed) {
        List<Segment> live;
        int[] ends;
        long seq;
        s.lock.lock();
        try {
            live = new ArrayList<>(s.segments);
            ends = new int[live.size()];
            for (int i = 0; i < ends.length; i++) {
                ends[i] = live.get(i).writePos;
            }
            seq = s.nextSeq - 1;
        } finally {
            s.lock.unlock();
        }
        for (int i = 0; i < ends.length; i++) {
            String damage = damage(live.get(i), ends[i]);
            if (damage != null) {
                throw new RecoveryException("cannot heal after a failed sync (" + failed.getMessage() + "): "
                        + live.get(i) + " " + damage + " in memory, so a page that failed to write is lost;"
                        + " writes stay refused");
            }
        }
        for (int i = 0; i < ends.length; i++) {
            live.get(i).redirty(ends[i]);
            s.msync.force(live.get(i), 0, ends[i]);
        }
        try {
            MmapStorage.forceDirectory(s.dir);
        } catch (IOException e) {
            throw new RecoveryException("cannot force journal directory " + s.dir + ": " + e.getMessage(), e);
        }
        s.lock.lock();
        try {
            for (int i = 0; i < ends.length; i++) {
                Segment seg = live.get(i);
                seg.syncedPos = Math.max(seg.syncedPos, ends[i]);
                seg.seenPos = Math.max(seg.seenPos, ends[i]);
            }
            syncedSeq = Math.max(syncedSeq, seq);
            if (!s.syncFailure.compareAndSet(failed, null)) {
                return; // failed again meanwhile: the next pass rewrites it all once more
            }
        } finally {
            s.lock.unlock();
        }
        MmapStorage.LOG.warn("recovery journal {}: every segment was rewritten and forced after a failed sync ({})",
                s.dir, failed.getMessage());
        s.compactor.retireUnfinished(); // a failed force stopped them; retiring twice is harmless
    }

    /**
     * Null if {@code seg} holds a valid file header and whole frames up to exactly {@code end};
     * else what is wrong, as the recovery scan would find it.
     */
    private static String damage(Segment seg, int end) {
        if (!seg.headerValid()) {
            return "has an invalid file header";
        }
        CRC32C check = new CRC32C();
        int pos = Segment.FILE_HEADER;
        while (pos < end) {
            int len = seg.buf.getInt(pos);
            if (len < FrameWriter.HEADER || len > end - pos) {
                return "has frame length " + len + " at offset " + pos;
            }
            check.reset();
            check.update(seg.buf.slice(pos + 8, len - 8));
            if ((int) check.getValue() != seg.buf.getInt(pos + 4)) {
                return "has a CRC32C mismatch at offset " + pos;
            }
            pos += FrameWriter.align8(len);
        }
        return pos == end ? null : "ends its last frame at " + pos + ", not " + end;
    }
}
