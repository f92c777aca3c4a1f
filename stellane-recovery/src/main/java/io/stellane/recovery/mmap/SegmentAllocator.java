package io.stellane.recovery.mmap;

import io.stellane.recovery.RecoveryException;
import io.stellane.recovery.SyncPolicy;
import java.io.IOException;
import java.nio.file.Files;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;

/**
 * Where the next segment comes from. It is prepared ahead on a virtual thread as
 * {@code seg-spare.log.tmp} (zeros, map, one write fault per page); a roll writes its file header and
 * renames it into place, and the next sync forces both ({@link SyncPolicy#ALWAYS} forces them at
 * once). Spare and compacted-but-undeleted files count against the segment cap; when the cap needs
 * their room, the roll deletes inline.
 *
 * <p>Records are written into preallocated, already-faulted pages, so a full disk never faults a
 * write into the mapping (no SIGBUS); what fails is creating a segment. That fails the write that
 * needed it, and every later one that needs one fails at once, without touching the disk, until
 * {@link #heal} has prepared a spare again (or, at the segment cap, sees room for one).
 * All methods run under the storage's lock.
 */
final class SegmentAllocator {
    private final MmapStorage s;
    /** The next segment, prepared on a virtual thread that never takes the lock (a roll waits for it). */
    private CompletableFuture<Segment.Spare> spare;
    /** Why the last segment could not be created; until one can be, a roll fails at once. */
    private volatile RecoveryException segmentFault;

    SegmentAllocator(MmapStorage storage) {
        this.s = storage;
    }

    RecoveryException fault() {
        return segmentFault;
    }

    boolean spareReady() {
        return spare != null && spare.isDone() && !spare.isCompletedExceptionally();
    }

    /**
     * Makes a fresh segment the active one; with {@code compact}, first carries the live records of
     * the oldest segments into it, leaving {@code reserve} bytes free for the write that rolled.
     */
    void roll(int reserve, boolean compact) {
        Segment.Spare ready = takeSpare();
        if (ready == null && s.segments.size() + s.compactor.retiring() >= s.maxSegments) {
            s.compactor.retireNow();
        }
        if (ready == null && s.segments.size() >= s.maxSegments) {
            throw s.full();
        }
        // a segment holding no record yet (e.g. one cut short on disk) must not share its base
        s.nextSeq = Math.max(s.nextSeq, s.active.baseSeq + 1);
        Segment fresh = ready == null ? null : activate(ready, s.nextSeq);
        if (fresh == null) {
            fresh = createInline();
        }
        segmentFault = null;
        s.segments.add(fresh);
        s.active = fresh;
        if (compact) {
            s.compactor.compact(reserve);
        }
        prepareSpareLater();
    }

    /** The prepared spare, waiting if it is on its way (as long as creating one inline would take), or null. */
    private Segment.Spare takeSpare() {
        CompletableFuture<Segment.Spare> f = spare;
        spare = null;
        if (f == null) {
            return null;
        }
        try {
            return f.join();
        } catch (CompletionException e) {
            s.throttle.warn(MmapStorage.LOG, "spare", "recovery journal " + s.dir + ": " + e.getCause().getMessage()
                    + "; creating the next segment inline", null);
            return null;
        }
    }

    private Segment createInline() {
        RecoveryException fault = segmentFault;
        if (fault != null) {
            throw new RecoveryException("recovery journal " + s.dir + " cannot create a new segment ("
                    + fault.getMessage() + "); retrying in the background", fault);
        }
        try {
            return Segment.create(s.dir, s.nextSeq, (int) s.config.segmentSize());
        } catch (RecoveryException e) {
            segmentFault = e;
            throw e;
        }
    }

    private Segment activate(Segment.Spare ready, long baseSeq) {
        try {
            Segment seg = ready.activate(s.dir, baseSeq);
            if (s.config.syncPolicy() == SyncPolicy.ALWAYS) {
                s.msync.force(seg, 0, Segment.FILE_HEADER);
                MmapStorage.forceDirectory(s.dir);
                seg.syncedPos = Segment.FILE_HEADER;
            } else {
                s.syncer.directoryChanged(); // the next sync forces it
            }
            return seg;
        } catch (RecoveryException | IOException e) {
            s.throttle.warn(MmapStorage.LOG, "activate", "recovery journal " + s.dir + ": cannot use the prepared"
                    + " segment (" + e.getMessage() + "); creating one inline", null);
            ready.discard();
            return null;
        }
    }

    /** Starts preparing the next segment, if there is none and the cap leaves room for it. */
    void prepareSpareLater() {
        if (s.closed || spare != null || s.segments.size() + s.compactor.retiring() >= s.maxSegments) {
            return;
        }
        int size = (int) s.config.segmentSize();
        spare = CompletableFuture.supplyAsync(() -> Segment.Spare.create(s.dir, size),
                r -> Thread.ofVirtual().name("stellane-journal-spare").start(r));
    }

    /** Whether a roll would now wait for the spare being prepared. */
    boolean spareOnItsWay() {
        return spare != null && !spare.isDone();
    }

    void discardSpare() {
        Segment.Spare unused = takeSpare();
        if (unused != null) {
            unused.discard();
        }
    }

    /**
     * While segments cannot be created: a spare that got made proves there is room again and ends
     * the fault; one that failed is started again. At the segment cap no spare is made: room for a
     * segment on the filesystem ends the fault, and the next roll creates it inline. Throws while the
     * fault lasts.
     */
    void heal() {
        s.lock.lock();
        try {
            if (s.closed || segmentFault == null) {
                return;
            }
            CompletableFuture<Segment.Spare> f = spare;
            if (f != null && f.isDone()) {
                if (!f.isCompletedExceptionally()) {
                    segmentFault = null;
                    MmapStorage.LOG.warn("recovery journal {}: a new segment could be created again; writes are"
                            + " accepted again", s.dir);
                    return;
                }
                spare = null;
            }
            if (spare == null) {
                if (s.segments.size() + s.compactor.retiring() < s.maxSegments) {
                    prepareSpareLater();
                } else if (Files.getFileStore(s.dir).getUsableSpace() >= s.config.segmentSize()) {
                    segmentFault = null;
                    return;
                }
            }
            throw new RecoveryException("recovery journal " + s.dir + " still cannot create a new segment: "
                    + segmentFault.getMessage(), segmentFault);
        } catch (IOException e) {
            throw new RecoveryException("cannot read the free space of " + s.dir + ": " + e.getMessage(), e);
        } finally {
            s.lock.unlock();
        }
    }
}
