package io.stellane.recovery.mmap;

import io.stellane.logging.LogThrottle;
import io.stellane.recovery.JournalFullException;
import io.stellane.recovery.RecoveryException;
import io.stellane.recovery.RecoveryStoreConfig;
import io.stellane.recovery.spi.JournalStorage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The {@code "mmap"} journal storage: a segmented, append-only log of puts and deletes on
 * memory-mapped files.
 *
 * <pre>
 * dir/                       0700, fsynced after every segment create/delete
 *   journal.lock             exclusive FileLock while open (one journal per directory)
 *   key.fingerprint          0600, the journal's META key_fingerprint (absent: never opened with a key)
 *   seg-&lt;baseSeq:020d&gt;.log   0600, preallocated with zeros, mapped READ_WRITE; only the last is written
 *
 * segment = file header (u32 magic "STJ1" | u32 version 2 | u64 baseSeq) + frames ({@link FrameWriter})
 * </pre>
 * Nothing is updated in place: a put of a key replaces its earlier put, a delete removes it. An
 * in-memory index (where each live record's frame is) is rebuilt by {@link FrameScanner} at open;
 * the values themselves are read from the mappings once, for {@link #scan}, and by compaction.
 *
 * <p>The parts: {@link FrameWriter} lays frames into a mapping; {@link FrameScanner} reads the files
 * at open and stops at the first damage; {@link SegmentAllocator} prepares the next segment ahead,
 * rolls, and gets through a disk that has no room for one; {@link Compactor} carries live records
 * out of the oldest segments and deletes them, and rewrites the journal for {@link #reclaim};
 * {@link Syncer} forces, and heals after a failed force.
 *
 * <p><b>Bounded disk:</b> at most {@code maxJournalBytes / segmentSize} segments exist. The last
 * one is reserved for every write that does not admit requests, so a full journal can still drain.
 *
 * <p><b>A write is all or nothing:</b> every frame of a write but its last is flagged CONTINUES, and
 * the scan applies a write only once it has read its last frame; a write cut short (a crash, a roll
 * that fails half way) leaves a gap in the sequence before the next frame, which discards it.
 *
 * <p><b>Threading:</b> one lock guards the write position, sequence and index; frames are copied into
 * the mapping under it, and forces ({@code msync}) run after releasing it. Compacted segments are
 * deleted on this storage's background thread once the copies of their records are forced.
 */
final class MmapStorage implements JournalStorage {
    static final Logger LOG = LoggerFactory.getLogger(MmapStorage.class);

    static final Set<PosixFilePermission> FILE_PERMS = PosixFilePermissions.fromString("rw-------");
    static final String LOCK_FILE = "journal.lock";
    /** Holds the fingerprint of the key the journal is encrypted with; absent for a clear-text journal. */
    static final String KEY_FINGERPRINT_FILE = "key.fingerprint";
    private static final byte[] META_KEY_FINGERPRINT = "key_fingerprint".getBytes(StandardCharsets.UTF_8);
    /** Written last by the conversion of format-1 segments: they are leftovers once it is live. */
    private static final byte[] FORMAT_ONE_CONVERTED = "format_1_converted".getBytes(StandardCharsets.UTF_8);
    /** The same failure is logged at most once per this interval, with a count. */
    static final Duration LOG_INTERVAL = Duration.ofSeconds(10);

    /** Forces {@code [from, to)} of a segment; throws {@link RecoveryException} when the disk did not take it. */
    @FunctionalInterface
    interface Msync {
        void force(Segment segment, int from, int to);
    }

    /** Where the frame of a live record is. */
    static final class Loc {
        Segment segment;
        int offset;
        final int length;

        Loc(Segment segment, int offset, int length) {
            this.segment = segment;
            this.offset = offset;
            this.length = length;
        }
    }

    /** A record's identity: its kind and key (the key's bytes as ISO-8859-1 chars, one per byte). */
    record Key(Kind kind, String key) {
        static Key of(Kind kind, byte[] key) {
            return new Key(kind, new String(key, StandardCharsets.ISO_8859_1));
        }
    }

    final RecoveryStoreConfig config;
    final Path dir;
    final int maxSegments;
    final Msync msync;
    final ReentrantLock lock = new ReentrantLock();
    final LogThrottle throttle = new LogThrottle(LOG_INTERVAL);
    final FrameWriter frames = new FrameWriter();
    final SegmentAllocator allocator;
    final Compactor compactor;
    final Syncer syncer;
    /** Deleting compacted segments and preparing spares: file work kept off the writing threads. */
    final ScheduledExecutorService background;

    // guarded by lock
    final ArrayList<Segment> segments = new ArrayList<>();
    Segment active;
    long nextSeq;
    final HashMap<Key, Loc> live = new HashMap<>();
    /** Deletes written: compaction at the cap is worth trying again only after some. */
    long deletes;
    volatile boolean closed;

    /** Set by a failed force; cleared once {@link Syncer#healSync} has rewritten and forced everything. */
    final AtomicReference<RecoveryException> syncFailure = new AtomicReference<>();
    private final FileChannel lockChannel;
    private final FileLock fileLock;

    MmapStorage(RecoveryStoreConfig config, Msync msync) {
        this.config = config;
        this.msync = msync;
        this.dir = config.path().toAbsolutePath();
        this.maxSegments = (int) Math.min(Integer.MAX_VALUE, config.maxJournalBytes() / config.segmentSize());
        this.allocator = new SegmentAllocator(this);
        this.compactor = new Compactor(this);
        this.syncer = new Syncer(this);
        try {
            Path lockPath = dir.resolve(LOCK_FILE);
            if (!Files.exists(lockPath)) {
                Files.createFile(lockPath, PosixFilePermissions.asFileAttribute(FILE_PERMS));
            }
            lockChannel = FileChannel.open(lockPath, StandardOpenOption.READ, StandardOpenOption.WRITE);
        } catch (IOException e) {
            throw new RecoveryException("cannot open recovery journal " + dir + ": " + e.getMessage(), e);
        }
        try {
            fileLock = lockChannel.tryLock();
            if (fileLock == null) {
                throw new RecoveryException("recovery journal " + dir + " is in use by another process");
            }
        } catch (OverlappingFileLockException e) {
            closeQuietly(lockChannel);
            throw new RecoveryException("recovery journal " + dir + " is already open in this process");
        } catch (IOException e) {
            closeQuietly(lockChannel);
            throw new RecoveryException("cannot lock recovery journal " + dir + ": " + e.getMessage(), e);
        } catch (RecoveryException e) {
            closeQuietly(lockChannel);
            throw e;
        }
        background = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "stellane-journal-" + dir.getFileName());
            t.setDaemon(true);
            return t;
        });
        List<Segment> earlier = List.of();
        try {
            earlier = new FrameScanner(this).recover();
            if (!earlier.isEmpty()) {
                convertFormatOne(earlier);
            }
        } catch (RuntimeException e) {
            background.shutdownNow();
            segments.forEach(Segment::release);
            earlier.forEach(Segment::release);
            closeQuietly(lockChannel);
            throw e;
        }
        lock.lock();
        try {
            allocator.prepareSpareLater();
        } finally {
            lock.unlock();
        }
    }

    // ------------------------------------------------------------------ JournalStorage

    @Override
    public void scan(Consumer<Record> into) {
        Path fingerprint = dir.resolve(KEY_FINGERPRINT_FILE);
        try {
            if (Files.exists(fingerprint)) {
                into.accept(new Record(Kind.META, 0, META_KEY_FINGERPRINT, Files.readString(fingerprint,
                        StandardCharsets.US_ASCII).strip().getBytes(StandardCharsets.US_ASCII)));
            }
        } catch (IOException e) {
            throw new RecoveryException("cannot read " + fingerprint + ": " + e.getMessage(), e);
        }
        lock.lock();
        try {
            List<Loc> inFileOrder = new ArrayList<>(live.values());
            inFileOrder.sort(Comparator.comparingLong((Loc loc) -> loc.segment.baseSeq).thenComparingInt(loc -> loc.offset));
            for (Loc loc : inFileOrder) {
                into.accept(read(loc));
            }
        } finally {
            lock.unlock();
        }
    }

    /** The record whose frame is at {@code loc}. Under the lock. */
    static Record read(Loc loc) {
        Segment s = loc.segment;
        int type = s.buf.get(loc.offset + 8);
        Kind kind = FrameWriter.kindOf(type);
        int at = loc.offset + FrameWriter.HEADER;
        int end = loc.offset + loc.length;
        if (FrameWriter.isDelete(type)) {
            byte[] key = new byte[end - at];
            s.buf.get(at, key);
            return new Record(kind, 0, key, null);
        }
        long seq = s.buf.getLong(at);
        int keyLength = s.buf.getInt(at + 8);
        byte[] key = new byte[keyLength];
        s.buf.get(at + FrameWriter.PUT_PREFIX, key);
        byte[] value = new byte[end - at - FrameWriter.PUT_PREFIX - keyLength];
        s.buf.get(at + FrameWriter.PUT_PREFIX + keyLength, value);
        return new Record(kind, seq, key, value);
    }

    @Override
    public long write(List<Record> records, boolean admits) {
        List<Record> framed = new ArrayList<>(records.size());
        Record fingerprint = null;
        for (Record r : records) {
            if (r.kind() == Kind.META && Arrays.equals(r.key(), META_KEY_FINGERPRINT)) {
                fingerprint = r;
            } else {
                framed.add(r);
            }
        }
        lock.lock();
        try {
            checkOpen();
            if (fingerprint != null) {
                writeKeyFingerprint(fingerprint.value());
            }
            if (!framed.isEmpty()) {
                writeFrames(framed, admits);
            }
            return nextSeq - 1;
        } finally {
            lock.unlock();
        }
    }

    /** Writes a whole write's frames, rolling (and first compacting) as needed. Under the lock. */
    private void writeFrames(List<Record> records, boolean admits) {
        long room = config.segmentSize() - Segment.FILE_HEADER;
        for (Record r : records) {
            if (FrameWriter.alignedSize(r) > room) {
                throw new JournalFullException("a " + FrameWriter.alignedSize(r) + "-byte journal record can never"
                        + " fit a " + config.segmentSize() + "-byte segment; raise segmentSize");
            }
        }
        if (admits && segments.size() + rollsFor(records) >= maxSegments) {
            compactor.compactIfChanged(0);
            if (segments.size() + rollsFor(records) >= maxSegments) {
                throw full();
            }
        }
        int total = 0;
        for (Record r : records) {
            total += FrameWriter.alignedSize(r);
        }
        if (total > active.remaining() && total <= room) {
            allocator.roll(total, true); // a write that fits one segment goes in one
        }
        Loc[] locs = new Loc[records.size()];
        boolean written = false;
        try {
            for (int i = 0; i < records.size(); i++) {
                Record r = records.get(i);
                int size = FrameWriter.alignedSize(r);
                if (size > active.remaining()) {
                    allocator.roll(size, false); // no compaction between the frames of one write
                }
                int offset = active.writePos;
                frames.write(active, nextSeq++, r, i < records.size() - 1 ? FrameWriter.FLAG_CONTINUES : 0);
                locs[i] = new Loc(active, offset, FrameWriter.HEADER + FrameWriter.payloadLength(r));
            }
            written = true;
        } finally {
            if (!written) {
                nextSeq++; // a gap: the scan discards the frames of this write that made it
            }
        }
        for (int i = 0; i < records.size(); i++) {
            Record r = records.get(i);
            Key key = Key.of(r.kind(), r.key());
            if (r.isDelete()) {
                live.remove(key);
                deletes++;
            } else {
                live.put(key, locs[i]);
            }
        }
    }

    /** How many segments a write of {@code records} would roll to, from the active segment on. */
    private int rollsFor(List<Record> records) {
        long room = config.segmentSize() - Segment.FILE_HEADER;
        long remaining = active.remaining();
        int rolls = 0;
        for (Record r : records) {
            int size = FrameWriter.alignedSize(r);
            if (size > remaining) {
                rolls++;
                remaining = room;
            }
            remaining -= size;
        }
        return rolls;
    }

    JournalFullException full() {
        return new JournalFullException("recovery journal " + dir + " is full: " + segments.size() + " segments of "
                + config.segmentSize() + " bytes (maxJournalBytes " + config.maxJournalBytes() + ", the last one reserved"
                + " for completions) hold " + live.size() + " records; the request was not journaled. Complete or"
                + " quarantine requests, or raise maxJournalBytes");
    }

    @Override
    public long maxRecordBytes() {
        return config.segmentSize() - Segment.FILE_HEADER - FrameWriter.HEADER - FrameWriter.PUT_PREFIX - 8;
    }

    @Override
    public void sync(long position) {
        syncer.sync(position);
    }

    @Override
    public void syncPeriodically() {
        syncer.syncAll(true);
    }

    @Override
    public boolean reclaim() {
        return compactor.rewrite();
    }

    @Override
    public void heal() {
        RecoveryException failed = syncFailure.get();
        if (failed != null) {
            syncer.healSync(failed);
        }
        allocator.heal();
    }

    @Override
    public Optional<RecoveryException> failedSync() {
        return Optional.ofNullable(syncFailure.get());
    }

    @Override
    public Optional<RecoveryException> fault() {
        return Optional.ofNullable(allocator.fault());
    }

    @Override
    public long bytesOnDisk() {
        lock.lock();
        try {
            // compacted segments count until their files are gone, a prepared spare once it exists
            return (segments.size() + compactor.retiring()) * config.segmentSize()
                    + (allocator.spareReady() ? config.segmentSize() : 0);
        } finally {
            lock.unlock();
        }
    }

    @Override
    public int files() {
        lock.lock();
        try {
            return segments.size() + compactor.retiring();
        } finally {
            lock.unlock();
        }
    }

    @Override
    public void close() {
        lock.lock();
        try {
            if (closed) {
                return;
            }
            closed = true;
        } finally {
            lock.unlock();
        }
        background.shutdown();
        try {
            if (!background.awaitTermination(10, TimeUnit.SECONDS)) {
                LOG.warn("journal background thread of {} did not stop within 10 s", dir);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        try {
            RecoveryException failed = syncFailure.get();
            if (failed == null) {
                syncer.syncAll(false);
            } else {
                syncer.healSync(failed); // a plain force would succeed without writing the pages that failed
            }
        } catch (RecoveryException e) {
            LOG.error("final sync of recovery journal {} failed", dir, e);
        } finally {
            lock.lock();
            try {
                try {
                    compactor.retireNow();
                } catch (RecoveryException e) {
                    LOG.warn("recovery journal {}: {}", dir, e.getMessage());
                }
                allocator.discardSpare();
                segments.forEach(Segment::release);
                compactor.releaseAll();
                try {
                    fileLock.release();
                } catch (IOException e) {
                    LOG.warn("cannot release lock of recovery journal {}", dir, e);
                }
                closeQuietly(lockChannel);
            } finally {
                lock.unlock();
            }
        }
    }

    @Override
    public String toString() {
        return "MmapStorage[" + dir + "]";
    }

    /**
     * Segments of format 1 (an earlier version's): their records are written again in format 2, in
     * one write that ends with a marker, forced, and only then are the old files deleted. A crash
     * before the deletion leaves both; the marker then tells that the old files are leftovers.
     */
    private void convertFormatOne(List<Segment> earlier) {
        int converted = -1;
        lock.lock();
        try {
            if (!live.containsKey(Key.of(Kind.META, FORMAT_ONE_CONVERTED))) {
                List<Record> records = new ArrayList<>(new FormatOneReader(this).read(earlier));
                converted = records.size();
                records.add(new Record(Kind.META, 0, FORMAT_ONE_CONVERTED, new byte[] {1}));
                writeFrames(records, false);
            }
        } finally {
            lock.unlock();
        }
        syncer.syncAll(false);
        for (Segment seg : earlier) {
            seg.release();
            try {
                Files.deleteIfExists(seg.path);
            } catch (IOException e) {
                throw new RecoveryException("cannot delete converted journal segment " + seg.path + ": "
                        + e.getMessage(), e);
            }
        }
        try {
            forceDirectory(dir);
        } catch (IOException e) {
            throw new RecoveryException("cannot force journal directory " + dir + ": " + e.getMessage(), e);
        }
        if (converted >= 0) {
            LOG.warn("recovery journal {}: {} segments of format 1 converted to format 2 ({} records)", dir,
                    earlier.size(), converted);
        }
    }

    // ------------------------------------------------------------------ helpers

    void checkOpen() {
        if (closed) {
            throw new RecoveryException("recovery store " + dir + " is closed");
        }
    }

    /** Writes the key's fingerprint crash-safely: a temporary file, forced, renamed, the directory forced. */
    private void writeKeyFingerprint(byte[] fingerprint) {
        Path file = dir.resolve(KEY_FINGERPRINT_FILE);
        Path tmp = dir.resolve(KEY_FINGERPRINT_FILE + ".tmp");
        try {
            if (fingerprint == null) {
                Files.deleteIfExists(file);
                forceDirectory(dir);
                return;
            }
            Files.deleteIfExists(tmp);
            Files.createFile(tmp, PosixFilePermissions.asFileAttribute(FILE_PERMS));
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
                byte[] line = Arrays.copyOf(fingerprint, fingerprint.length + 1);
                line[fingerprint.length] = '\n';
                ch.write(ByteBuffer.wrap(line));
                ch.force(true);
            }
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE);
            forceDirectory(dir);
        } catch (IOException e) {
            throw new RecoveryException("cannot write " + file + ": " + e.getMessage(), e);
        }
    }

    static void forceDirectory(Path dir) throws IOException {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        }
    }

    private static void closeQuietly(FileChannel ch) {
        try {
            ch.close();
        } catch (IOException ignored) {
            // nothing to flush in a lock channel
        }
    }
}
