package io.stellane.recovery.mmap;

import io.stellane.recovery.RecoveryException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;

/**
 * One preallocated, memory-mapped journal file {@code seg-<baseSeq>.log}. Writes happen under the
 * store's lock with absolute puts; {@link #force} may run concurrently from any thread (it only
 * msyncs a range and touches no buffer state).
 *
 * <p>The file is mapped in its own shared {@link Arena}, so {@link #release} unmaps it at once: a
 * deleted file keeps its blocks for as long as it is mapped, and a mapping left to the garbage
 * collector kept every compacted segment's space taken, so a disk that filled up stayed full.
 * After release every access to {@link #buf} throws {@link IllegalStateException}, never crashes.
 */
final class Segment {
    static final int MAGIC = 0x53544a31; // "STJ1"
    /** 2: frames are puts and deletes of journal records; 1 (earlier versions) held the journal's own events. */
    static final int VERSION = 2;
    static final int VERSION_1 = 1;
    /** magic u32 | version u32 | baseSeq u64 */
    static final int FILE_HEADER = 16;
    static final String PREFIX = "seg-";
    static final String SUFFIX = ".log";
    /** The file a {@link Spare} is prepared in; like any unfinished segment, deleted at open. */
    static final String SPARE = PREFIX + "spare" + SUFFIX + ".tmp";
    private static final int PAGE = 4096;
    /**
     * Direct, so the channel writes from it as it is: a heap buffer is first copied into a
     * temporary direct one, which made preparing a segment take about twice as long. Small, because
     * the size of these writes sets the size of the page-cache folios the kernel gives the file
     * (ext4 allocates large folios), and a force write-protects whole folios: with 1 MiB writes the
     * interval force, an interval behind the writer, write-protected pages the worker had yet to
     * write, and each cost the worker a page fault, one that can wait for the filesystem's journal
     * commit. With 64 KiB folios a force reaches only what was written, unless fewer than 64 KiB were
     * written in an interval, where a fault more per interval costs nothing that matters.
     */
    private static final ByteBuffer ZEROS = ByteBuffer.allocateDirect(64 << 10).asReadOnlyBuffer();
    private static final VarHandle INT_VIEW = MethodHandles.byteBufferViewVarHandle(int[].class, ByteOrder.BIG_ENDIAN);

    final Path path;
    final long baseSeq;
    final int capacity;
    final MappedByteBuffer buf;
    private final FileChannel channel;
    private final Arena arena;
    /** Unmapped: its records were forced elsewhere (a retired segment) or the store closed. */
    private volatile boolean released;
    /** Next write offset; only under the store lock. */
    int writePos = FILE_HEADER;
    /** Bytes known forced; only under the store lock. */
    int syncedPos = FILE_HEADER;
    /** {@link #writePos} at the previous interval sync, which forces up to here; only under the store lock. */
    int seenPos;

    /**
     * The next segment, made ready off the writer's path: a zero-filled (not forced: see writeZeros), mapped file whose
     * pages have already taken their first write fault. Preparing one costs a file's worth of
     * zeros, an fsync and a page fault per 4 KiB; done inline at a roll that stalls the worker
     * for tens of milliseconds, and the faults otherwise land on the journaled requests one by one.
     */
    record Spare(Path path, FileChannel channel, Arena arena, MappedByteBuffer buf) {
        static Spare create(Path dir, int size) {
            Path path = dir.resolve(SPARE);
            try {
                writeZeros(path, size, null, false);
                FileChannel ch = FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE);
                Arena arena = Arena.ofShared();
                MappedByteBuffer buf;
                try {
                    buf = map(ch, size, arena);
                } catch (IOException e) {
                    arena.close();
                    ch.close();
                    throw e;
                }
                for (int i = 0; i < size; i += PAGE) {
                    buf.put(i, (byte) 0); // the write fault now, not under a request
                }
                return new Spare(path, ch, arena, buf);
            } catch (IOException e) {
                deleteQuietly(path, e);
                throw new RecoveryException("cannot prepare journal segment " + path + ": " + e.getMessage(), e);
            }
        }

        /**
         * Becomes segment {@code baseSeq}: the file header goes into the mapping, then the file is
         * renamed into place. Neither is forced here: the segment's first force covers the header
         * ({@code syncedPos} starts at 0) and the caller forces the directory.
         */
        Segment activate(Path dir, long baseSeq) {
            Path target = dir.resolve(fileName(baseSeq));
            if (Files.exists(target)) {
                throw new RecoveryException("journal segment " + target + " already exists");
            }
            buf.putInt(0, MAGIC).putInt(4, VERSION).putLong(8, baseSeq);
            try {
                Files.move(path, target, StandardCopyOption.ATOMIC_MOVE);
            } catch (IOException e) {
                throw new RecoveryException("cannot rename " + path + " to " + target + ": " + e.getMessage(), e);
            }
            Segment s = new Segment(target, baseSeq, channel, arena, buf);
            s.syncedPos = 0;
            return s;
        }

        void discard() {
            try {
                channel.close();
            } catch (IOException ignored) {
                // nothing buffered in the channel
            }
            arena.close();
            deleteQuietly(path, null);
        }
    }

    private Segment(Path path, long baseSeq, FileChannel channel, Arena arena, MappedByteBuffer buf) {
        this.path = path;
        this.baseSeq = baseSeq;
        this.channel = channel;
        this.arena = arena;
        this.buf = buf;
        this.capacity = buf.capacity();
    }

    /** {@code size} bytes of {@code ch} from 0, mapped read-write in {@code arena}: closing it unmaps them. */
    private static MappedByteBuffer map(FileChannel ch, long size, Arena arena) throws IOException {
        return (MappedByteBuffer) ch.map(FileChannel.MapMode.READ_WRITE, 0, size, arena).asByteBuffer();
    }

    static String fileName(long baseSeq) {
        // not String.format: called once a segment, it stays interpreted, ~0.2 ms of the worker's roll
        String digits = Long.toString(baseSeq);
        return PREFIX + "0".repeat(Math.max(0, 20 - digits.length())) + digits + SUFFIX;
    }

    /** The base sequence in a segment file name, or -1 if it is not one. */
    static long parseBaseSeq(String name) {
        if (!name.startsWith(PREFIX) || !name.endsWith(SUFFIX)) {
            return -1;
        }
        try {
            return Long.parseLong(name.substring(PREFIX.length(), name.length() - SUFFIX.length()));
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    /**
     * Creates a segment crash-safely: zeros and header are written to a temporary file, forced,
     * renamed into place, then the directory is forced. Zeros rather than a sparse file, since a
     * hole that cannot be allocated on a full disk faults inside a mapped write (SIGBUS).
     */
    static Segment create(Path dir, long baseSeq, int size) {
        Path target = dir.resolve(fileName(baseSeq));
        Path tmp = dir.resolve(fileName(baseSeq) + ".tmp");
        if (Files.exists(target)) {
            throw new RecoveryException("journal segment " + target + " already exists");
        }
        try {
            ByteBuffer header = ByteBuffer.allocate(FILE_HEADER).putInt(MAGIC).putInt(VERSION).putLong(baseSeq).flip();
            writeZeros(tmp, size, header, true);
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
            MmapStorage.forceDirectory(dir);
            return open(target, baseSeq);
        } catch (IOException e) {
            deleteQuietly(tmp, e);
            throw new RecoveryException("cannot create journal segment " + target + ": " + e.getMessage(), e);
        }
    }

    /**
     * A fresh owner-only file of {@code size} zero bytes (after {@code header}, if given), forced if
     * {@code force}. Writing them reserves the blocks (no SIGBUS in a mapped write on a full disk);
     * a spare need not force them: its pages are overwritten by records and forced with those long
     * before the kernel would flush the zeros on its own, so they never reach the disk twice, and a
     * crash before its rename leaves a temporary file that open deletes.
     */
    private static void writeZeros(Path file, int size, ByteBuffer header, boolean force) throws IOException {
        Files.deleteIfExists(file);
        Files.createFile(file, PosixFilePermissions.asFileAttribute(MmapStorage.FILE_PERMS));
        Files.setPosixFilePermissions(file, MmapStorage.FILE_PERMS);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
            long pos = 0;
            if (header != null) {
                while (header.hasRemaining()) {
                    pos += ch.write(header, pos);
                }
            }
            ByteBuffer zeros = ZEROS.duplicate();
            while (pos < size) {
                zeros.clear().limit((int) Math.min(zeros.capacity(), size - pos));
                pos += ch.write(zeros, pos);
            }
            if (force) {
                ch.force(true);
            }
        }
    }

    private static void deleteQuietly(Path file, IOException cause) {
        try {
            Files.deleteIfExists(file);
        } catch (IOException suppressed) {
            if (cause != null) {
                cause.addSuppressed(suppressed);
            }
        }
    }

    static Segment open(Path path, long baseSeq) {
        try {
            FileChannel ch = FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE);
            long size = ch.size();
            if (size > Integer.MAX_VALUE) {
                ch.close();
                throw new RecoveryException("journal segment " + path + " is larger than 2 GiB: " + size);
            }
            Arena arena = Arena.ofShared();
            try {
                return new Segment(path, baseSeq, ch, arena, map(ch, size, arena));
            } catch (IOException e) {
                arena.close();
                ch.close();
                throw e;
            }
        } catch (IOException e) {
            throw new RecoveryException("cannot map journal segment " + path + ": " + e.getMessage(), e);
        }
    }

    /** Whether the file header is intact, of this version, and names {@link #baseSeq}. */
    boolean headerValid() {
        return capacity >= FILE_HEADER && buf.getInt(0) == MAGIC && buf.getInt(4) == VERSION
                && buf.getLong(8) == baseSeq;
    }

    /** Whether the file header is that of an earlier version's segment. */
    boolean earlierVersion() {
        return capacity >= FILE_HEADER && buf.getInt(0) == MAGIC && buf.getInt(4) == VERSION_1
                && buf.getLong(8) == baseSeq;
    }

    int remaining() {
        return capacity - writePos;
    }

    /**
     * Forces {@code [from, to)} to stable storage. Nothing to do once {@link #release released}: a
     * segment is released only after its records were forced elsewhere (a retired segment's live
     * records, in the segment they were carried to) or by the store's final sync.
     */
    void force(int from, int to) {
        if (to > from && !released) {
            try {
                buf.force(from, to - from);
            } catch (UncheckedIOException e) {
                // fail closed: a caller told "durable" must never be told so wrongly
                throw new RecoveryException("msync of " + path + " failed: " + e.getMessage(), e);
            } catch (IllegalStateException e) {
                if (!released) {
                    throw e;
                }
            }
        }
    }

    /**
     * Marks every page of {@code [0, end)} dirty without changing a byte (an atomic add of 0, which
     * the compiler cannot drop as a store of the value just read): the next force then writes them
     * all, even the pages a failed writeback left marked clean.
     */
    void redirty(int end) {
        for (int i = 0; i < end; i += PAGE) {
            INT_VIEW.getAndAdd(buf, i, 0);
        }
    }

    /** Whether any byte in {@code [from, capacity)} is non-zero. */
    boolean dirtyFrom(int from) {
        int i = from;
        for (; i < capacity && (i & 7) != 0; i++) {
            if (buf.get(i) != 0) {
                return true;
            }
        }
        for (; i + 8 <= capacity; i += 8) {
            if (buf.getLong(i) != 0) {
                return true;
            }
        }
        for (; i < capacity; i++) {
            if (buf.get(i) != 0) {
                return true;
            }
        }
        return false;
    }

    void zeroFrom(int from) {
        zero(from, capacity);
    }

    private void zero(int from, int to) {
        byte[] zeros = new byte[64 * 1024];
        for (int i = from; i < to; i += zeros.length) {
            buf.put(i, zeros, 0, Math.min(zeros.length, to - i));
        }
        force(from, to);
    }

    /**
     * Closes the channel and unmaps the file, which frees its blocks once it is deleted. Idempotent;
     * a {@link #force} running meanwhile returns, any other access throws {@link IllegalStateException}.
     */
    synchronized void release() {
        if (released) {
            return;
        }
        released = true;
        try {
            channel.close();
        } catch (IOException ignored) {
            // nothing is buffered in the channel
        }
        arena.close();
    }

    @Override
    public String toString() {
        return path.getFileName().toString();
    }
}
